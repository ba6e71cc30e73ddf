package org.diffusionbot.bot.web;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.diffusionbot.bot.service.ImagineLine;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.db.DatabaseUnavailableException;
import org.diffusionbot.db.GalleryCursor;
import org.diffusionbot.db.GalleryImage;
import org.diffusionbot.db.GalleryItem;
import org.diffusionbot.db.GalleryPage;
import org.diffusionbot.db.GalleryQuery;
import org.diffusionbot.db.GalleryStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The community gallery over HTTP: read-only HTML pages, image bytes and a small JSON API, all from
 * {@link GalleryStore}, so every answer follows its visibility rules at the moment of the request.
 *
 * <pre>
 * GET /                     latest images (?q= search, ?model=, ?sampler=, ?before= cursor)
 * GET /user/{id}            one author's images (same parameters)
 * GET /image/{id}           an image page: full image, prompt, parameters, the /imagine line, variations
 * GET /image/{id}.png       the PNG (with its parameters chunk)
 * GET /thumb/{id}.jpg       the thumbnail
 * GET /api/images           JSON page (?q, ?model, ?sampler, ?user, ?before, ?limit=1..100)
 * GET /api/images/{id}      JSON of one image
 * GET /static/gallery.css, /static/gallery.js
 * </pre>
 */
final class GalleryHandler implements HttpHandler {
    private static final Logger LOG = LoggerFactory.getLogger(GalleryHandler.class);

    static final String CSP = "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
            + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
    static final int PAGE_SIZE = 30;
    static final int API_DEFAULT_LIMIT = 30;
    static final int MAX_SEARCH = 200;
    static final int MAX_QUERY_STRING = 2048;
    static final int VARIATIONS_SHOWN = 24;
    /** Image bytes: always revalidate (an ETag check that costs one index lookup) so hidden images vanish at once. */
    static final String IMAGE_CACHE = "public, no-cache";
    private static final long MODELS_TTL_NANOS = 30_000_000_000L;

    private static final Pattern IMAGE_PAGE = Pattern.compile("/image/([0-9]{1,18})");
    private static final Pattern IMAGE_PNG = Pattern.compile("/image/([0-9]{1,18})\\.png");
    private static final Pattern THUMB = Pattern.compile("/thumb/([0-9]{1,18})\\.jpg");
    private static final Pattern USER = Pattern.compile("/user/([0-9]{1,19})");
    private static final Pattern API_IMAGE = Pattern.compile("/api/images/([0-9]{1,18})");

    private final GalleryStore store;
    private final ObjectMapper json = new ObjectMapper();
    private final StaticFile css;
    private final StaticFile js;
    private final GalleryPages pages;
    private volatile List<String> models = List.of();
    private volatile long modelsAt = Long.MIN_VALUE;

    GalleryHandler(GalleryStore store) {
        this.store = store;
        this.css = StaticFile.load("gallery.css", "text/css; charset=utf-8");
        this.js = StaticFile.load("gallery.js", "text/javascript; charset=utf-8");
        this.pages = new GalleryPages("/static/gallery.css?v=" + css.version, "/static/gallery.js?v=" + js.version);
    }

    /** A client error: answered with this status and short message. */
    static final class BadRequest extends Exception {
        final int status;

        BadRequest(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }

    @Override
    public void handle(HttpExchange ex) throws IOException {
        try (ex) {
            securityHeaders(ex.getResponseHeaders());
            String method = ex.getRequestMethod();
            if (!method.equals("GET") && !method.equals("HEAD")) {
                ex.getResponseHeaders().set("Allow", "GET, HEAD");
                text(ex, 405, "read-only: only GET and HEAD are allowed\n");
                return;
            }
            String path = ex.getRequestURI().getRawPath();
            boolean api = path.startsWith("/api/");
            try {
                route(ex, path, api);
            } catch (BadRequest e) {
                error(ex, api, e.status, e.getMessage());
            } catch (DatabaseUnavailableException e) {
                LOG.warn("gallery: {}", e.getMessage());
                error(ex, api, 503, "the gallery is unavailable right now");
            } catch (RuntimeException e) {
                LOG.error("gallery: {} {} failed", method, path, e);
                error(ex, api, 500, "internal error");
            }
        }
    }

    private void route(HttpExchange ex, String path, boolean api) throws IOException, BadRequest {
        Matcher m;
        if (path.equals("/")) {
            list(ex, "/", null);
        } else if ((m = USER.matcher(path)).matches()) {
            list(ex, path, id(m.group(1)));
        } else if ((m = IMAGE_PAGE.matcher(path)).matches()) {
            imagePage(ex, id(m.group(1)));
        } else if ((m = IMAGE_PNG.matcher(path)).matches()) {
            bytes(ex, id(m.group(1)), "png", "image/png");
        } else if ((m = THUMB.matcher(path)).matches()) {
            bytes(ex, id(m.group(1)), "thumb", "image/jpeg");
        } else if (path.equals("/api/images")) {
            apiList(ex);
        } else if ((m = API_IMAGE.matcher(path)).matches()) {
            apiImage(ex, id(m.group(1)));
        } else if (path.equals("/static/gallery.css")) {
            css.send(ex);
        } else if (path.equals("/static/gallery.js")) {
            js.send(ex);
        } else {
            throw new BadRequest(404, "not found");
        }
    }

    private static long id(String digits) throws BadRequest {
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw new BadRequest(404, "not found");
        }
    }

    // --- pages

    private void list(HttpExchange ex, String path, Long userId) throws IOException, BadRequest {
        Map<String, String> params = params(ex);
        String userName = null;
        if (userId != null) {
            userName = store.publicUserName(userId).orElseThrow(() -> new BadRequest(404, "no such user"));
        }
        GalleryQuery q = query(params, userId, PAGE_SIZE);
        GalleryPage page = store.page(q);
        html(ex, 200, pages.list(path, userName, q, page, models()));
    }

    private void imagePage(HttpExchange ex, long id) throws IOException, BadRequest {
        GalleryImage g = store.image(id).orElseThrow(() -> new BadRequest(404, "no such image"));
        html(ex, 200, pages.image(g, store.variations(id, VARIATIONS_SHOWN)));
    }

    private void bytes(HttpExchange ex, long id, String kind, String contentType) throws IOException, BadRequest {
        String etag = "\"" + kind + "-" + id + "\"";
        Headers h = ex.getResponseHeaders();
        String ifNoneMatch = ex.getRequestHeaders().getFirst("If-None-Match");
        if (ifNoneMatch != null && (ifNoneMatch.contains(etag) || ifNoneMatch.strip().equals("*"))) {
            // the bytes of an id never change; only whether they may be shown does
            if (!store.isVisible(id)) {
                throw new BadRequest(404, "no such image");
            }
            h.set("ETag", etag);
            h.set("Cache-Control", IMAGE_CACHE);
            ex.sendResponseHeaders(304, -1);
            return;
        }
        Optional<byte[]> body = kind.equals("png") ? store.png(id) : store.thumbnail(id);
        byte[] b = body.orElseThrow(() -> new BadRequest(404, "no such image"));
        h.set("Content-Type", contentType);
        h.set("ETag", etag);
        h.set("Cache-Control", IMAGE_CACHE);
        if (kind.equals("png")) {
            h.set("Content-Disposition", "inline; filename=\"image-" + id + ".png\"");
        }
        send(ex, 200, b);
    }

    // --- API

    private void apiList(HttpExchange ex) throws IOException, BadRequest {
        Map<String, String> params = params(ex);
        Long user = null;
        if (params.containsKey("user")) {
            try {
                user = Long.parseLong(params.get("user"));
            } catch (NumberFormatException e) {
                throw new BadRequest(400, "user must be a user id");
            }
        }
        int limit = API_DEFAULT_LIMIT;
        if (params.containsKey("limit")) {
            try {
                limit = Integer.parseInt(params.get("limit"));
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > GalleryStore.MAX_PAGE) {
                throw new BadRequest(400, "limit must be a whole number from 1 to " + GalleryStore.MAX_PAGE);
            }
        }
        GalleryQuery q = query(params, user, limit);
        GalleryPage page = store.page(q);
        Map<String, Object> out = new LinkedHashMap<>();
        List<Object> items = new ArrayList<>();
        page.items().forEach(i -> items.add(item(i)));
        out.put("images", items);
        out.put("next", page.next() == null ? null : page.next().token());
        if (page.next() != null) {
            String url = GalleryPages.link("/api/images", q, page.next().token());
            url += (url.contains("?") ? "&" : "?") + "limit=" + q.limit();
            if (user != null) {
                url += "&user=" + user;
            }
            out.put("nextUrl", url);
        } else {
            out.put("nextUrl", null);
        }
        jsonOut(ex, 200, out);
    }

    private void apiImage(HttpExchange ex, long id) throws IOException, BadRequest {
        GalleryImage g = store.image(id).orElseThrow(() -> new BadRequest(404, "no such image"));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", g.id());
        out.put("url", "/image/" + g.id());
        out.put("pngUrl", "/image/" + g.id() + ".png");
        out.put("thumbnailUrl", "/thumb/" + g.id() + ".jpg");
        out.put("createdAt", g.createdAt().toString());
        out.put("author", author(g.userId(), g.userName()));
        out.put("kind", g.kind());
        out.put("prompt", g.prompt());
        out.put("negativePrompt", g.negativePrompt());
        out.put("model", g.model());
        out.put("sampler", g.sampler());
        out.put("samplerName", GalleryPages.samplerName(g.sampler()));
        out.put("schedule", g.schedule() == null ? Schedule.DEFAULT.id() : g.schedule());
        out.put("steps", g.steps());
        out.put("cfg", g.cfg());
        out.put("seed", g.seed());
        out.put("width", g.width());
        out.put("height", g.height());
        out.put("clipSkip", g.clipSkip());
        out.put("strength", g.strength());
        out.put("parentImageId", g.parentImageId());
        out.put("parameters", g.parameters());
        out.put("imagine", ImagineLine.of(g));
        List<Object> vars = new ArrayList<>();
        store.variations(id, VARIATIONS_SHOWN).forEach(i -> vars.add(item(i)));
        out.put("variations", vars);
        jsonOut(ex, 200, out);
    }

    private static Map<String, Object> item(GalleryItem i) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", i.id());
        m.put("url", "/image/" + i.id());
        m.put("pngUrl", "/image/" + i.id() + ".png");
        m.put("thumbnailUrl", "/thumb/" + i.id() + ".jpg");
        m.put("createdAt", i.createdAt().toString());
        m.put("author", author(i.userId(), i.userName()));
        m.put("model", i.model());
        m.put("sampler", i.sampler());
        m.put("prompt", i.prompt());
        m.put("width", i.width());
        m.put("height", i.height());
        m.put("seed", i.seed());
        return m;
    }

    private static Map<String, Object> author(long id, String name) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", Long.toString(id)); // Discord ids exceed JavaScript's exact integers
        m.put("name", name);
        m.put("url", "/user/" + id);
        return m;
    }

    // --- parameters

    static GalleryQuery query(Map<String, String> p, Long userId, int limit) throws BadRequest {
        GalleryCursor before = null;
        String b = p.get("before");
        if (b != null && !b.isEmpty()) {
            before = GalleryCursor.parse(b).orElseThrow(() -> new BadRequest(400, "before: not a page cursor"));
        }
        String model = blankToNull(p.get("model"));
        if (model != null) {
            try {
                Topology.checkModelName(model);
            } catch (IllegalArgumentException e) {
                throw new BadRequest(400, "model: not a model name");
            }
        }
        String sampler = blankToNull(p.get("sampler"));
        if (sampler != null) {
            try {
                sampler = Sampler.fromId(sampler).id();
            } catch (IllegalArgumentException e) {
                throw new BadRequest(400, "sampler: one of " + Sampler.ids());
            }
        }
        String q = blankToNull(p.get("q"));
        if (q != null && q.length() > MAX_SEARCH) {
            throw new BadRequest(400, "q: at most " + MAX_SEARCH + " characters");
        }
        return new GalleryQuery(userId, model, sampler, q, before, limit);
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.strip();
    }

    /** The query parameters (the first of repeated ones); malformed encoding is a 400. */
    static Map<String, String> params(HttpExchange ex) throws BadRequest {
        return parseQuery(ex.getRequestURI().getRawQuery());
    }

    static Map<String, String> parseQuery(String raw) throws BadRequest {
        Map<String, String> out = new LinkedHashMap<>();
        if (raw == null || raw.isEmpty()) {
            return out;
        }
        if (raw.length() > MAX_QUERY_STRING) {
            throw new BadRequest(400, "query string too long");
        }
        for (String pair : raw.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            try {
                String k = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
                String v = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
                if (v.indexOf('\0') >= 0) {
                    throw new BadRequest(400, "malformed query string");
                }
                out.putIfAbsent(k, v);
            } catch (IllegalArgumentException e) {
                throw new BadRequest(400, "malformed query string");
            }
        }
        return out;
    }

    private List<String> models() {
        long now = System.nanoTime();
        if (modelsAt == Long.MIN_VALUE || now - modelsAt > MODELS_TTL_NANOS) {
            models = store.models();
            modelsAt = now;
        }
        return models;
    }

    // --- responses

    static void securityHeaders(Headers h) {
        h.set("Content-Security-Policy", CSP);
        h.set("X-Content-Type-Options", "nosniff");
        h.set("Referrer-Policy", "no-referrer");
        h.set("X-Frame-Options", "DENY");
        h.set("Cross-Origin-Opener-Policy", "same-origin");
    }

    private void error(HttpExchange ex, boolean api, int status, String message) throws IOException {
        if (api) {
            jsonOut(ex, status, Map.of("error", message));
        } else if (status == 404 || status == 400) {
            html(ex, status, pages.message(status, status == 404 ? "Not found" : "Bad request", message));
        } else {
            text(ex, status, message + "\n");
        }
    }

    private static void html(HttpExchange ex, int status, String page) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        send(ex, status, page.getBytes(StandardCharsets.UTF_8));
    }

    private void jsonOut(HttpExchange ex, int status, Object value) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        send(ex, status, json.writeValueAsBytes(value));
    }

    private static void text(HttpExchange ex, int status, String body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        send(ex, status, body.getBytes(StandardCharsets.UTF_8));
    }

    static void send(HttpExchange ex, int status, byte[] body) throws IOException {
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().set("Content-Length", Integer.toString(body.length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    /** A classpath file served with a content hash in its URL, so it may be cached for a year. */
    static final class StaticFile {
        final byte[] body;
        final String contentType;
        final String version;

        private StaticFile(byte[] body, String contentType, String version) {
            this.body = body;
            this.contentType = contentType;
            this.version = version;
        }

        static StaticFile load(String name, String contentType) {
            try (InputStream in = GalleryHandler.class.getResourceAsStream(name)) {
                if (in == null) {
                    throw new IllegalStateException("missing resource " + name);
                }
                byte[] b = in.readAllBytes();
                String v = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b)).substring(0, 12);
                return new StaticFile(b, contentType, v);
            } catch (IOException | NoSuchAlgorithmException e) {
                throw new IllegalStateException("cannot load " + name, e);
            }
        }

        void send(HttpExchange ex) throws IOException {
            Headers h = ex.getResponseHeaders();
            h.set("Content-Type", contentType);
            h.set("ETag", "\"" + version + "\"");
            String v = GalleryHandler.parseQueryQuietly(ex.getRequestURI().getRawQuery()).get("v");
            // the pages link the hashed URL; an unversioned or outdated one is only cached briefly
            h.set("Cache-Control", version.equals(v) ? "public, max-age=31536000, immutable" : "public, max-age=300");
            GalleryHandler.send(ex, 200, body);
        }
    }

    private static Map<String, String> parseQueryQuietly(String raw) {
        try {
            return parseQuery(raw);
        } catch (BadRequest e) {
            return Map.of();
        }
    }
}
