package org.diffusionbot.bot.web;

import static org.diffusionbot.bot.web.Html.t;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.bot.web.Html.Fragment;
import org.diffusionbot.bot.service.ImagineLine;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.db.GalleryImage;
import org.diffusionbot.db.GalleryItem;
import org.diffusionbot.db.GalleryPage;
import org.diffusionbot.db.GalleryQuery;

/** The gallery's HTML pages. Every value reaches the markup through {@link Html#t}, escaped. */
final class GalleryPages {
    static final int EXCERPT = 140;
    static final int THUMB_SIDE = 256;
    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'")
            .withZone(ZoneOffset.UTC);

    private final String cssUrl;
    private final String jsUrl;

    GalleryPages(String cssUrl, String jsUrl) {
        this.cssUrl = cssUrl;
        this.jsUrl = jsUrl;
    }

    /** The latest images, or a user's ({@code userName} non-null), with the filter form and the pager. */
    String list(String path, String userName, GalleryQuery q, GalleryPage page, List<String> models) {
        String heading = userName != null ? "Images by " + userName
                : q.search() != null ? "Search: " + q.search() : "Latest images";
        List<Fragment> body = new ArrayList<>();
        body.add(t("<h1>{}</h1>", heading));
        body.add(filters(path, q, models));
        if (page.items().isEmpty()) {
            body.add(t("<p class=\"empty\">{}</p>", q.before() != null ? "No older images."
                    : "No images match. Try other words or filters."));
        } else {
            body.add(grid(page.items(), userName == null));
        }
        List<Fragment> pager = new ArrayList<>();
        if (q.before() != null) {
            pager.add(t("<a class=\"newest\" href=\"{}\">&larr; Newest</a>", link(path, q, null)));
        }
        if (page.next() != null) {
            pager.add(t("<a class=\"older\" rel=\"next\" href=\"{}\">Older images &rarr;</a>",
                    link(path, q, page.next().token())));
        }
        if (!pager.isEmpty()) {
            body.add(t("<nav class=\"pager\">{}</nav>", Html.join(pager)));
        }
        String title = userName != null ? userName + " — Gallery" : "Gallery";
        return layout(title, Html.join(body));
    }

    String image(GalleryImage g, List<GalleryItem> variations) {
        List<Fragment> rows = new ArrayList<>();
        rows.add(row("Model", t("<a href=\"{}\">{}</a>", "/?model=" + enc(g.model()), g.model())));
        rows.add(row("Sampler", t("<a href=\"{}\">{}</a>", "/?sampler=" + enc(g.sampler()), samplerName(g.sampler()))));
        String schedule = ImagineLine.scheduleName(g.sampler(), g.schedule());
        if (schedule != null) {
            rows.add(row("Schedule type", schedule));
        }
        rows.add(row("Steps", g.steps()));
        rows.add(row("CFG scale", ImagineLine.number(g.cfg())));
        double rescale = org.diffusionbot.common.image.GenerationParameters.guidanceRescaleOf(g.parameters());
        if (rescale != 0) {
            rows.add(row(org.diffusionbot.common.image.GenerationParameters.CFG_RESCALE_FIELD,
                    ImagineLine.number(rescale)));
        }
        rows.add(row("Seed", g.seed()));
        rows.add(row("Size", g.width() + " × " + g.height()));
        if (g.clipSkip() != org.diffusionbot.common.GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP) { // 0: the model's
            rows.add(row("Clip skip", g.clipSkip()));
        }
        if (g.strength() != null) {
            rows.add(row("Denoising strength", ImagineLine.number(g.strength())));
        }
        rows.add(row("Kind", g.kind()));
        rows.add(row("Author", t("<a href=\"{}\">{}</a>", "/user/" + g.userId(), g.userName())));
        rows.add(row("Created", t("<time datetime=\"{}\">{}</time>", g.createdAt().toString(),
                DATE.format(g.createdAt()))));
        if (g.parentImageId() != null) {
            rows.add(row("Made from", t("<a href=\"{}\">image {}</a>", "/image/" + g.parentImageId(),
                    g.parentImageId())));
        }

        List<Fragment> body = new ArrayList<>();
        body.add(t("""
                <article class="detail">
                <figure class="full"><a href="{}"><img src="{}" width="{}" height="{}" alt="{}"></a></figure>
                <section class="info">
                <h1>Image {}</h1>
                <h2>Prompt</h2>
                <p class="prompt" id="prompt">{}</p>
                {}
                <h2>Parameters</h2>
                <table class="params">{}</table>
                <h2>Make it again</h2>
                <div class="imagine"><code id="imagine-line">{}</code>
                <button type="button" class="copy" data-copy="imagine-line">Copy</button></div>
                <p class="links"><a href="{}" download>Download PNG</a></p>
                <details><summary>PNG parameters text</summary><pre class="raw">{}</pre></details>
                </section>
                </article>
                """,
                "/image/" + g.id() + ".png", "/image/" + g.id() + ".png", g.width(), g.height(),
                Html.shorten(g.prompt(), EXCERPT), g.id(), g.prompt(),
                g.negativePrompt() == null || g.negativePrompt().isBlank() ? Html.EMPTY
                        : t("<h2>Negative prompt</h2>\n<p class=\"prompt negative\" id=\"negative\">{}</p>",
                                g.negativePrompt()),
                Html.join(rows), ImagineLine.of(g), "/image/" + g.id() + ".png", g.parameters()));
        if (!variations.isEmpty()) {
            body.add(t("<section class=\"variations\"><h2>Variations made from this image</h2>{}</section>",
                    grid(variations, true)));
        }
        return layout("Image " + g.id() + " — " + Html.shorten(g.prompt(), 60), Html.join(body));
    }

    String message(int status, String title, String detail) {
        return layout(title, t("<h1>{}</h1><p class=\"empty\">{}</p><p><a href=\"/\">Back to the gallery</a></p>",
                status + " " + title, detail));
    }

    private Fragment grid(List<GalleryItem> items, boolean showAuthor) {
        List<Fragment> cards = new ArrayList<>();
        for (GalleryItem i : items) {
            double scale = Math.min(1.0, (double) THUMB_SIDE / Math.max(i.width(), i.height()));
            long tw = Math.max(1, Math.round(i.width() * scale));
            long th = Math.max(1, Math.round(i.height() * scale));
            String excerpt = Html.shorten(i.prompt(), EXCERPT);
            cards.add(t("""
                    <li class="card"><a href="{}"><img src="{}" width="{}" height="{}" alt="{}" loading="lazy"></a>
                    <p class="excerpt">{}</p><p class="meta">{}<span class="model">{}</span> · <span>{}</span></p></li>
                    """,
                    "/image/" + i.id(), "/thumb/" + i.id() + ".jpg", tw, th, excerpt, excerpt,
                    showAuthor ? t("<a class=\"author\" href=\"{}\">{}</a> · ", "/user/" + i.userId(), i.userName())
                            : Html.EMPTY,
                    i.model(), samplerName(i.sampler())));
        }
        return t("<ul class=\"grid\">\n{}</ul>", Html.join(cards));
    }

    private Fragment filters(String path, GalleryQuery q, List<String> models) {
        List<Fragment> modelOptions = new ArrayList<>();
        modelOptions.add(t("<option value=\"\">Any model</option>"));
        List<String> all = new ArrayList<>(models);
        if (q.model() != null && !all.contains(q.model())) {
            all.add(q.model());
        }
        for (String m : all) {
            modelOptions.add(option(m, m, m.equals(q.model())));
        }
        List<Fragment> samplerOptions = new ArrayList<>();
        samplerOptions.add(t("<option value=\"\">Any sampler</option>"));
        for (Sampler s : Sampler.values()) {
            samplerOptions.add(option(s.id(), s.displayName(), s.id().equals(q.sampler())));
        }
        return t("""
                <form class="filters" method="get" action="{}" role="search">
                <input type="search" name="q" value="{}" placeholder="Search prompts…" aria-label="Search prompts" maxlength="{}">
                <select name="model" aria-label="Model">{}</select>
                <select name="sampler" aria-label="Sampler">{}</select>
                <button type="submit">Search</button>
                </form>
                """, path, q.search() == null ? "" : q.search(), GalleryHandler.MAX_SEARCH,
                Html.join(modelOptions), Html.join(samplerOptions));
    }

    private static Fragment option(String value, String label, boolean selected) {
        return selected ? t("<option value=\"{}\" selected>{}</option>", value, label)
                : t("<option value=\"{}\">{}</option>", value, label);
    }

    private static Fragment row(String name, Object value) {
        return t("<tr><th scope=\"row\">{}</th><td>{}</td></tr>", name, value);
    }

    private Fragment layoutHead(String title) {
        return t("""
                <!doctype html>
                <html lang="en">
                <head>
                <meta charset="utf-8">
                <meta name="viewport" content="width=device-width, initial-scale=1">
                <meta name="referrer" content="no-referrer">
                <title>{}</title>
                <link rel="stylesheet" href="{}">
                <script src="{}" defer></script>
                </head>
                """, title, cssUrl, jsUrl);
    }

    private String layout(String title, Fragment main) {
        return t("""
                {}<body>
                <header class="top"><a class="brand" href="/">Prompt gallery</a>
                <span class="tagline">Images made on this server, and the prompts that made them</span></header>
                <main>
                {}</main>
                <footer>Only images their authors share are shown. Read-only.</footer>
                </body>
                </html>
                """, layoutHead(title), main).html();
    }

    static String samplerName(String id) {
        try {
            return Sampler.fromId(id).displayName();
        } catch (IllegalArgumentException e) {
            return id;
        }
    }

    /** {@code path} with the query's filters and the given cursor, as a URL (escaped when inserted). */
    static String link(String path, GalleryQuery q, String before) {
        Map<String, String> params = new LinkedHashMap<>();
        if (q.search() != null) {
            params.put("q", q.search());
        }
        if (q.model() != null) {
            params.put("model", q.model());
        }
        if (q.sampler() != null) {
            params.put("sampler", q.sampler());
        }
        if (before != null) {
            params.put("before", before);
        }
        StringBuilder sb = new StringBuilder(path);
        char sep = '?';
        for (Map.Entry<String, String> e : params.entrySet()) {
            sb.append(sep).append(e.getKey()).append('=').append(enc(e.getValue()));
            sep = '&';
        }
        return sb.toString();
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
