package org.diffusionbot.bot.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.diffusionbot.bot.service.ImagineLine;
import org.diffusionbot.db.GalleryCursor;
import org.diffusionbot.db.GalleryImage;
import org.diffusionbot.db.GalleryItem;
import org.diffusionbot.db.GalleryPage;
import org.diffusionbot.db.GalleryQuery;
import org.junit.jupiter.api.Test;

/** The HTML helper, the page templates and the parameter parsing, without a server. */
class GalleryHtmlTest {
    static final String[] HOSTILE = {"<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>",
            "\" onmouseover=\"alert(1)", "' onfocus='alert(1)", "`${alert(1)}`", "&lt;b&gt;", "<!--", "]]>"};

    @Test
    void templateEscapesEveryValueButFragments() {
        assertEquals("<p>&lt;img src=x onerror=alert(1)&gt;</p>", Html.t("<p>{}</p>", HOSTILE[0]).html());
        assertEquals("<a href=\"&quot; onmouseover=&quot;alert(1)\">x</a>",
                Html.t("<a href=\"{}\">x</a>", HOSTILE[2]).html());
        assertEquals("&#39;&amp;&#96;", Html.escape("'&`"));
        assertEquals("<b><i>&lt;</i></b>", Html.t("<b>{}</b>", Html.t("<i>{}</i>", "<")).html());
        assertEquals("<p></p>", Html.t("<p>{}</p>", (Object) null).html());
        assertThrows(IllegalArgumentException.class, () -> Html.t("{} {}", "one"));
        assertThrows(IllegalArgumentException.class, () -> Html.t("{}", "one", "two"));
        assertEquals("ab…", Html.shorten("abcdef", 3));
        assertEquals("😀😀…", Html.shorten("😀😀😀😀", 3), "never splits a surrogate pair");
        assertEquals("abc", Html.shorten("abc", 3));
    }

    @Test
    void imagineLineUsesTheCommandsOptionNames() {
        GalleryImage g = image(1, "a cat\nin a hat", "blurry");
        assertEquals("/imagine prompt:a cat in a hat negative:blurry steps:25 cfg:7.5 seed:1234 sampler:euler_a "
                + "width:512 height:768 model:sd15", ImagineLine.of(g));
        GalleryImage noNeg = image(1, "x", "");
        assertFalse(ImagineLine.of(noNeg).contains("negative:"));
        assertEquals("7", ImagineLine.number(7.0));
        GalleryImage trailing = new GalleryImage(1, UUID.randomUUID(), 0, Instant.parse("2024-05-01T12:00:00Z"), 77,
                "ann", "imagine", "x", "", "sd15", "euler", 4, 1.5, 1234, 512, 768, 0, null, null, "x", "trailing");
        assertEquals("/imagine prompt:x steps:4 cfg:1.5 seed:1234 sampler:euler schedule:trailing width:512 height:768 "
                + "model:sd15", ImagineLine.of(trailing));
        assertEquals("SGM Uniform", ImagineLine.scheduleName("euler", "trailing"));
        GalleryImage rescaled = new GalleryImage(1, UUID.randomUUID(), 0, Instant.parse("2024-05-01T12:00:00Z"), 77,
                "ann", "imagine", "x", "", "sd15", "euler", 4, 1.5, 1234, 512, 768, 0, null, null,
                "x\nSteps: 4, Sampler: Euler, CFG scale: 1.5, Seed: 1234, Size: 512x768, Model: sd15, CFG Rescale φ: 0.7",
                null);
        assertTrue(ImagineLine.of(rescaled).endsWith(" model:sd15 guidance_rescale:0.7"), ImagineLine.of(rescaled));
        assertTrue(new GalleryPages("/static/gallery.css?v=1", "/static/gallery.js?v=1").image(rescaled, List.of())
                .contains("CFG Rescale φ"), "the page shows the guidance rescale");
        String page = new GalleryPages("/static/gallery.css?v=1", "/static/gallery.js?v=1").image(trailing, List.of());
        assertTrue(page.contains("Schedule type") && page.contains("SGM Uniform"), "the page names the schedule");
        assertFalse(new GalleryPages("/static/gallery.css?v=1", "/static/gallery.js?v=1").image(noNeg, List.of())
                .contains("Schedule type"), "not for the sampler's default");
        assertEquals("Karras", ImagineLine.scheduleName("dpmpp_2m_sde_karras", null));
        assertEquals(null, ImagineLine.scheduleName("euler", "default"));
    }

    @Test
    void pagesContainNoRawUserText() {
        GalleryPages pages = new GalleryPages("/static/gallery.css?v=1", "/static/gallery.js?v=1");
        for (String h : HOSTILE) {
            GalleryImage g = image(5, h, h);
            GalleryItem item = new GalleryItem(6, Instant.now(), 77, h, "sd15", "euler_a", h, 512, 512, 1);
            String page = pages.image(g, List.of(item));
            String list = pages.list("/", h, new GalleryQuery(null, null, null, h, null, 30),
                    new GalleryPage(List.of(item), item.cursor()), List.of("sd15"));
            for (String html : List.of(page, list)) {
                assertFalse(html.contains(h.contains("<") || h.contains("\"") || h.contains("'") || h.contains("`")
                        || h.contains("&") ? h : "\u0000"), "raw " + h);
                assertTrue(html.contains(Html.escape(h)), "escaped " + h);
                assertFalse(html.contains("<script>"), "no inline script");
                assertEquals(List.of(), eventHandlerAttributes(html), "no event handler attributes");
                assertFalse(html.contains("style="), "no inline style");
            }
        }
    }

    @Test
    void linksKeepFiltersAndEncodeThem() {
        GalleryQuery q = new GalleryQuery(null, "sd15", "euler_a", "red & \"blue\"", null, 30);
        assertEquals("/?q=red+%26+%22blue%22&model=sd15&sampler=euler_a&before=5-6",
                GalleryPages.link("/", q, new GalleryCursor(Instant.EPOCH.plusNanos(5000), 6).token()));
    }

    @Test
    void parametersAreParsedStrictly() throws Exception {
        assertEquals(Map.of("q", "a b&c", "model", "x"), GalleryHandler.parseQuery("q=a+b%26c&model=x&q=second"));
        assertThrows(GalleryHandler.BadRequest.class, () -> GalleryHandler.parseQuery("q=%zz"));
        assertThrows(GalleryHandler.BadRequest.class, () -> GalleryHandler.parseQuery("q=%00"));
        assertThrows(GalleryHandler.BadRequest.class, () -> GalleryHandler.parseQuery("q=" + "a".repeat(3000)));
        assertThrows(GalleryHandler.BadRequest.class, () -> GalleryHandler.query(Map.of("before", "nope"), null, 30));
        assertThrows(GalleryHandler.BadRequest.class, () -> GalleryHandler.query(Map.of("sampler", "bogus"), null, 30));
        assertThrows(GalleryHandler.BadRequest.class, () -> GalleryHandler.query(Map.of("model", "a b"), null, 30));
        assertThrows(GalleryHandler.BadRequest.class,
                () -> GalleryHandler.query(Map.of("q", "x".repeat(GalleryHandler.MAX_SEARCH + 1)), null, 30));
        GalleryQuery q = GalleryHandler.query(Map.of("sampler", "EULER_A", "model", " ", "q", "  "), 3L, 30);
        assertEquals("euler_a", q.sampler());
        assertNull(q.model());
        assertNull(q.search());
        assertEquals(3L, q.userId());
    }

    /** The on* attribute names of every tag (values are quoted and never hold a raw '>' since we escape it). */
    static List<String> eventHandlerAttributes(String html) {
        List<String> found = new java.util.ArrayList<>();
        java.util.regex.Matcher tag = java.util.regex.Pattern.compile("<[a-zA-Z][^>]*>").matcher(html);
        java.util.regex.Pattern attr = java.util.regex.Pattern.compile(
                "\\s([^\\s=>\"'/]+)(?:\\s*=\\s*(?:\"[^\"]*\"|'[^']*'|[^\\s>]+))?");
        while (tag.find()) {
            java.util.regex.Matcher a = attr.matcher(tag.group());
            while (a.find()) {
                if (a.group(1).toLowerCase(java.util.Locale.ROOT).startsWith("on")) {
                    found.add(tag.group());
                }
            }
        }
        return found;
    }

    static GalleryImage image(long id, String prompt, String negative) {
        return new GalleryImage(id, UUID.randomUUID(), 0, Instant.parse("2024-05-01T12:00:00Z"), 77, "ann", "imagine",
                prompt, negative, "sd15", "euler_a", 25, 7.5, 1234, 512, 768, 0, null, null, prompt, null);
    }
}
