package org.diffusionbot.bot.web;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.image.Png;
import org.diffusionbot.db.Database;
import org.diffusionbot.db.GallerySeed;
import org.diffusionbot.db.GalleryStore;
import org.diffusionbot.db.HideResult;
import org.diffusionbot.db.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The gallery over HTTP (status codes, headers, caching, JSON), on a WebServer over a real database. */
class GalleryWebIT {
    static TestDatabase testDb;
    static Database db;
    static WebServer web;
    static GalleryStore store;
    static GallerySeed seed;
    static final HttpClient HTTP = HttpClient.newHttpClient();
    static final ObjectMapper JSON = new ObjectMapper();
    static long fox;
    static long hostile;

    @BeforeAll
    static void start() throws Exception {
        testDb = TestDatabase.create();
        db = Database.start(testDb.settings());
        store = new GalleryStore(db.dataSource());
        web = new WebServer("127.0.0.1", 0, () -> true, store);
        seed = new GallerySeed(db.dataSource(), GalleryFixtures.pictures(64));
        fox = seed.addOne(GallerySeed.Spec.of(1, "ann", "a red fox in snow").negative("blurry").model("sdxl")
                .sampler(Sampler.DPMPP_2M_KARRAS));
        hostile = seed.addOne(GallerySeed.Spec.of(2, "<b>mallory</b>", "<img src=x onerror=alert(1)> cat"));
        for (int i = 0; i < 5; i++) {
            seed.addOne(GallerySeed.Spec.of(3, "cat", "filler cat " + i));
        }
    }

    @AfterAll
    static void stop() throws Exception {
        web.close();
        db.close();
        testDb.close();
    }

    static HttpResponse<byte[]> get(String path, String... headers) throws Exception {
        return request("GET", path, headers);
    }

    static HttpResponse<byte[]> request(String method, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + web.port() + path))
                .method(method, HttpRequest.BodyPublishers.noBody());
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    /** A request the JDK client refuses to send (malformed URI); returns the status line. */
    static String raw(String requestLine) throws Exception {
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", web.port())) {
            s.getOutputStream().write((requestLine + "\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            return new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream(),
                    java.nio.charset.StandardCharsets.US_ASCII)).readLine();
        }
    }

    static String body(HttpResponse<byte[]> r) {
        return new String(r.body(), java.nio.charset.StandardCharsets.UTF_8);
    }

    @Test
    void everyAnswerCarriesTheSecurityHeaders() throws Exception {
        for (String path : List.of("/", "/image/" + fox, "/image/" + fox + ".png", "/thumb/" + fox + ".jpg",
                "/api/images", "/api/images/" + fox, "/user/1", "/nope", "/image/999999", "/?before=x",
                "/static/gallery.css", "/static/gallery.js")) {
            HttpResponse<byte[]> r = get(path);
            assertEquals(GalleryHandler.CSP, r.headers().firstValue("Content-Security-Policy").orElse(null), path);
            assertEquals("nosniff", r.headers().firstValue("X-Content-Type-Options").orElse(null), path);
            assertEquals("no-referrer", r.headers().firstValue("Referrer-Policy").orElse(null), path);
            assertTrue(r.headers().firstValue("Content-Type").isPresent(), path);
        }
    }

    @Test
    void pagesAreHtmlWithEscapedText() throws Exception {
        HttpResponse<byte[]> r = get("/");
        assertEquals(200, r.statusCode());
        assertEquals("text/html; charset=utf-8", r.headers().firstValue("Content-Type").orElseThrow());
        assertEquals("no-store", r.headers().firstValue("Cache-Control").orElseThrow());
        String html = body(r);
        assertTrue(html.contains("&lt;img src=x onerror=alert(1)&gt; cat"));
        assertFalse(html.contains("<img src=x"));
        assertTrue(html.contains("&lt;b&gt;mallory&lt;/b&gt;"));
        assertEquals(List.of(), GalleryHtmlTest.eventHandlerAttributes(html));
        assertTrue(html.matches("(?s).*<link rel=\"stylesheet\" href=\"/static/gallery\\.css\\?v=[0-9a-f]{12}\">.*"));

        String page = body(get("/image/" + fox));
        assertTrue(page.contains("DPM++ 2M Karras"));
        assertTrue(page.contains("/imagine prompt:a red fox in snow negative:blurry steps:25 cfg:7.5 seed:"));
        assertTrue(page.contains("sampler:dpmpp_2m_karras width:512 height:512 model:sdxl"));
    }

    @Test
    void imageBytesHaveTheirContentTypeAndRevalidate() throws Exception {
        HttpResponse<byte[]> png = get("/image/" + fox + ".png");
        assertEquals(200, png.statusCode());
        assertEquals("image/png", png.headers().firstValue("Content-Type").orElseThrow());
        assertEquals("public, no-cache", png.headers().firstValue("Cache-Control").orElseThrow());
        String etag = png.headers().firstValue("ETag").orElseThrow();
        assertArrayEquals(store.png(fox).orElseThrow(), png.body());
        assertTrue(Png.readText(png.body()).get("parameters").startsWith("a red fox in snow"));
        HttpResponse<byte[]> thumb = get("/thumb/" + fox + ".jpg");
        assertEquals("image/jpeg", thumb.headers().firstValue("Content-Type").orElseThrow());
        assertEquals((byte) 0xFF, thumb.body()[0]);
        assertEquals((byte) 0xD8, thumb.body()[1]);

        HttpResponse<byte[]> again = get("/image/" + fox + ".png", "If-None-Match", etag);
        assertEquals(304, again.statusCode());
        assertEquals(0, again.body().length);

        HttpResponse<byte[]> head = request("HEAD", "/image/" + fox + ".png");
        assertEquals(200, head.statusCode());
        assertEquals(0, head.body().length);
        assertEquals(Integer.toString(png.body().length), head.headers().firstValue("Content-Length").orElseThrow());
    }

    @Test
    void hidingTakesEffectOnTheNextRequestIncludingRevalidation() throws Exception {
        long img = seed.addOne(GallerySeed.Spec.of(4, "zoe", "a fleeting sunset"));
        String etag = get("/image/" + img + ".png").headers().firstValue("ETag").orElseThrow();
        assertEquals(200, get("/image/" + img).statusCode());
        assertEquals(HideResult.HIDDEN, store.hide(img, 4, false));
        for (String path : List.of("/image/" + img, "/image/" + img + ".png", "/thumb/" + img + ".jpg",
                "/api/images/" + img)) {
            assertEquals(404, get(path).statusCode(), path);
        }
        assertEquals(404, get("/image/" + img + ".png", "If-None-Match", etag).statusCode(), "a cached copy is refused");
        assertFalse(body(get("/")).contains("a fleeting sunset"));
        assertFalse(body(get("/api/images?limit=100")).contains("a fleeting sunset"));
        assertFalse(body(get("/?q=sunset")).contains("/image/" + img + "\""));
    }

    @Test
    void optedOutUsersAreGone() throws Exception {
        long img = seed.addOne(GallerySeed.Spec.of(5, "shy", "a quiet pond"));
        assertEquals(200, get("/user/5").statusCode());
        store.setGalleryPublic(5, false);
        assertEquals(404, get("/user/5").statusCode());
        assertEquals(404, get("/image/" + img).statusCode());
        assertEquals(404, get("/thumb/" + img + ".jpg").statusCode());
        assertEquals(0, JSON.readTree(get("/api/images?user=5").body()).path("images").size());
    }

    @Test
    void readOnlyAndStrictAboutInput() throws Exception {
        for (String m : List.of("POST", "PUT", "DELETE", "PATCH", "OPTIONS")) {
            HttpResponse<byte[]> r = request(m, "/image/" + fox);
            assertEquals(405, r.statusCode(), m);
            assertEquals("GET, HEAD", r.headers().firstValue("Allow").orElseThrow());
        }
        Map<String, Integer> cases = Map.ofEntries(
                Map.entry("/?before=garbage", 400),
                Map.entry("/?sampler=nope", 400),
                Map.entry("/?model=a%20b", 400),
                Map.entry("/?q=%E0%A4", 200),
                Map.entry("/?q=" + "a".repeat(GalleryHandler.MAX_SEARCH + 1), 400),
                Map.entry("/api/images?limit=0", 400),
                Map.entry("/api/images?limit=101", 400),
                Map.entry("/api/images?limit=ten", 400),
                Map.entry("/api/images?user=me", 400),
                Map.entry("/api/images?limit=100", 200),
                Map.entry("/image/abc", 404),
                Map.entry("/image/99999999999999999999", 404),
                Map.entry("/image/" + fox + "/", 404),
                Map.entry("/user/123456", 404),
                Map.entry("/api/images/424242", 404),
                Map.entry("/static/../pom.xml", 404),
                Map.entry("/?q=%27%3B+DROP+TABLE+images%3B--", 200));
        for (Map.Entry<String, Integer> c : cases.entrySet()) {
            HttpResponse<byte[]> r = get(c.getKey());
            assertEquals(c.getValue(), r.statusCode(), c.getKey() + ": " + body(r));
            assertTrue(r.body().length < 20_000 || r.statusCode() == 200);
        }
        assertTrue(raw("GET /?q=%ZZ HTTP/1.1").startsWith("HTTP/1.1 400"), "malformed escapes");
        JsonNode err = JSON.readTree(get("/api/images?limit=0").body());
        assertEquals("limit must be a whole number from 1 to 100", err.path("error").asText());
        assertEquals(200, get("/").statusCode(), "still there after the injection attempt");
    }

    @Test
    void apiPagesWithCursorsAndShowsOneImage() throws Exception {
        List<Long> seen = new ArrayList<>();
        String url = "/api/images?limit=2&q=cat";
        int pages = 0;
        while (url != null) {
            HttpResponse<byte[]> r = get(url);
            assertEquals("application/json; charset=utf-8", r.headers().firstValue("Content-Type").orElseThrow());
            JsonNode page = JSON.readTree(r.body());
            assertTrue(page.path("images").size() <= 2);
            page.path("images").forEach(i -> seen.add(i.path("id").asLong()));
            url = page.path("nextUrl").isNull() ? null : page.path("nextUrl").asText();
            pages++;
        }
        assertEquals(6, seen.size(), "5 fillers and the hostile one mention cats: " + seen);
        assertEquals(seen.size(), seen.stream().distinct().count());
        assertEquals(3, pages);

        JsonNode one = JSON.readTree(get("/api/images/" + fox).body());
        assertEquals("a red fox in snow", one.path("prompt").asText());
        assertEquals("blurry", one.path("negativePrompt").asText());
        assertEquals("sdxl", one.path("model").asText());
        assertEquals("1", one.path("author").path("id").asText());
        assertTrue(one.path("author").path("id").isTextual(), "snowflakes as strings");
        assertEquals("ann", one.path("author").path("name").asText());
        assertTrue(one.path("imagine").asText().startsWith("/imagine prompt:a red fox in snow negative:blurry"));
        assertNull(one.get("nonexistent"));

        JsonNode h = JSON.readTree(get("/api/images/" + hostile).body());
        assertEquals("<img src=x onerror=alert(1)> cat", h.path("prompt").asText());
    }

    @Test
    void staticFilesAreVersionedAndCachedLong() throws Exception {
        String html = body(get("/"));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("href=\"(/static/gallery\\.css\\?v=[0-9a-f]+)\"")
                .matcher(html);
        assertTrue(m.find());
        HttpResponse<byte[]> css = get(m.group(1));
        assertEquals("text/css; charset=utf-8", css.headers().firstValue("Content-Type").orElseThrow());
        assertEquals("public, max-age=31536000, immutable", css.headers().firstValue("Cache-Control").orElseThrow());
        assertEquals("public, max-age=300", get("/static/gallery.css").headers().firstValue("Cache-Control").orElseThrow());
        HttpResponse<byte[]> js = get("/static/gallery.js");
        assertEquals("text/javascript; charset=utf-8", js.headers().firstValue("Content-Type").orElseThrow());
        assertEquals(200, get("/healthz").statusCode());
    }
}
