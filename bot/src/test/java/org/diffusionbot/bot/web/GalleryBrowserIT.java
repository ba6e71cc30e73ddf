package org.diffusionbot.bot.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.diffusionbot.bot.e2e.BotHarness;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.db.Database;
import org.diffusionbot.db.GallerySeed;
import org.diffusionbot.db.GallerySeed.Spec;
import org.diffusionbot.db.GalleryStore;
import org.diffusionbot.db.HideResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The gallery as a visitor sees it: headless Chromium (Debian's package, driven over CDP) loads the
 * pages served by the real bot ({@link BotHarness}: JDA on a fake Discord, HikariCP/Flyway on a fresh
 * database of the real PostgreSQL, RabbitMQ). The data is written as the bot writes it, including
 * prompts and a name crafted as HTML/JS; they must show as text and run nothing. Screenshots go to
 * {@code target/gallery-screenshots/}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class GalleryBrowserIT {
    static final Path SHOTS = Path.of("target", "gallery-screenshots");
    static final String IMG_ALERT = "<img src=x onerror=alert(1)> kitten";
    static final String IMG_PWN = "<img src=x onerror=\"window.__pwned=1\"> kitten in a basket";
    static final String SCRIPT = "</script><script>alert(1);window.__pwned=1</script> kitten";
    static final String ATTR = "\" onmouseover=\"alert(1);window.__pwned=1\" x=\" kitten";
    static final String NEG = "'><svg onload=alert(1)><script>window.__pwned=1</script>";
    static final String EVIL_NAME = "<script>window.__pwned=1</script>Mallory";

    static BotHarness h;
    static Database db;
    static GalleryStore store;
    static Chromium browser;
    static String base;
    static long lighthouse;
    static long fox;
    static long variation;
    static long hidden;
    static long secret;
    static long laterHidden;
    static final List<Long> hostile = new ArrayList<>();
    static int visibleCount;

    @BeforeAll
    static void start() throws Exception {
        h = new BotHarness(1000, 100);
        base = "http://127.0.0.1:" + h.bot.web().port();
        db = Database.start(h.testDb.settings());
        store = new GalleryStore(db.dataSource());
        GallerySeed seed = new GallerySeed(db.dataSource(), GalleryFixtures.pictures(512));
        String[] fillers = {"isometric cozy cabin in a pine forest, morning mist",
                "macro photo of a dew drop on a leaf, bokeh", "cyberpunk street market at night, neon signs, rain",
                "a bowl of ramen, studio ghibli style", "ancient library with floating books, volumetric light",
                "portrait of an astronaut cat, 35mm film", "desert canyon at golden hour, wide angle",
                "paper origami dragon on a wooden table"};
        for (int i = 0; i < fillers.length; i++) {
            seed.addOne(Spec.of(110 + i % 3, "artist" + i % 3, fillers[i]).model(i % 2 == 0 ? "sd15" : "sdxl")
                    .sampler(Sampler.values()[i % Sampler.values().length]));
        }
        secret = seed.addOne(Spec.of(202, "bob", "secret garden behind a wall"));
        store.setGalleryPublic(202, false);
        hidden = seed.addOne(Spec.of(101, "ann", "hidden moonlit castle"));
        assertEquals(HideResult.HIDDEN, store.hide(hidden, 101, false));
        List<Long> pair = seed.add(Spec.of(101, "ann", "a lighthouse on a cliff at sunset, oil painting").count(2));
        lighthouse = pair.get(0);
        variation = seed.addOne(Spec.of(303, "carol", "a lighthouse on a cliff at sunset, oil painting")
                .parent(lighthouse));
        hostile.add(seed.addOne(Spec.of(666, EVIL_NAME, IMG_ALERT)));
        hostile.add(seed.addOne(Spec.of(666, EVIL_NAME, IMG_PWN)));
        hostile.add(seed.addOne(Spec.of(666, EVIL_NAME, SCRIPT)));
        hostile.add(seed.addOne(Spec.of(666, EVIL_NAME, ATTR).negative(NEG)));
        laterHidden = seed.addOne(Spec.of(101, "ann", "a paper boat on a puddle"));
        fox = seed.addOne(Spec.of(101, "ann", "portrait of a red fox in snow, watercolor").negative("blurry, low quality")
                .model("sdxl").sampler(Sampler.DPMPP_2M_KARRAS));
        visibleCount = fillers.length + 2 + 1 + hostile.size() + 1 + 1;
        browser = Chromium.start();
        browser.send("Browser.grantPermissions", Map.of("origin", base,
                "permissions", List.of("clipboardReadWrite", "clipboardSanitizedWrite")));
    }

    @AfterAll
    static void stop() throws Exception {
        if (browser != null) {
            browser.close();
        }
        if (db != null) {
            db.close();
        }
        if (h != null) {
            h.close();
        }
    }

    @BeforeEach
    void desktop() throws Exception {
        browser.viewport(1280, 900, false);
    }

    /** After every page: no dialog opened, no payload ran, no CSP violation (our pages need nothing inline). */
    @AfterEach
    void nothingRan() throws Exception {
        // hover and focus everything, as a visitor's mouse would
        browser.eval("document.querySelectorAll('*').forEach(function (e) {"
                + " e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));"
                + " e.dispatchEvent(new FocusEvent('focus')); }); true");
        assertEquals(List.of(), browser.dialogs(), "no alert/confirm/prompt");
        assertEquals("undefined", browser.text("typeof window.__pwned"));
        assertEquals("[]", browser.eval("window.__csp").toString(), "CSP violations");
        assertEquals(0, browser.eval("document.querySelectorAll('img[src=\"x\"], svg, script:not([src])').length")
                .asInt(), "no injected elements");
    }

    private static void shot(String name) throws Exception {
        browser.screenshot(SHOTS.resolve(name + ".png"));
    }

    private static String bodyText() throws Exception {
        return browser.text("document.body.innerText");
    }

    private static List<Long> cardIds() throws Exception {
        JsonNode ids = browser.eval("Array.from(document.querySelectorAll('.grid .card > a'))"
                + ".map(function (a) { return a.getAttribute('href'); })");
        List<Long> out = new ArrayList<>();
        ids.forEach(n -> out.add(Long.parseLong(n.asText().substring("/image/".length()))));
        return out;
    }

    private static void waitForImages() throws Exception {
        browser.waitFor("Array.from(document.images).filter(function (i) {"
                + " return i.getBoundingClientRect().top < window.innerHeight; })"
                + ".every(function (i) { return i.complete && i.naturalWidth > 0; })");
    }

    @Test
    @Order(1)
    void homeShowsTheLatestVisibleImagesWithPromptsAsText() throws Exception {
        browser.navigate(base + "/");
        waitForImages();
        assertEquals("Gallery", browser.text("document.title"));
        List<Long> cards = cardIds();
        assertEquals(visibleCount, cards.size(), cards.toString());
        assertEquals(fox, cards.get(0), "newest first");
        assertFalse(cards.contains(hidden), "hidden by its author");
        assertFalse(cards.contains(secret), "author opted out");
        String text = bodyText();
        assertFalse(text.contains("hidden moonlit castle"));
        assertFalse(text.contains("secret garden"));
        for (String p : List.of(IMG_ALERT, SCRIPT, ATTR, "<img src=x onerror=\"window.__pwned=1\">")) {
            assertTrue(text.contains(p.strip()), "shown literally: " + p);
        }
        assertTrue(text.contains(EVIL_NAME), "the name is text too");
        // every thumbnail is one of ours, and the first ones are loaded
        assertEquals(0, browser.eval("Array.from(document.images).filter(function (i) {"
                + " return !/^\\/thumb\\/[0-9]+\\.jpg$/.test(i.getAttribute('src')); }).length").asInt());
        assertTrue(browser.eval("document.images[0].naturalWidth").asInt() == 256);
        shot("01-home-desktop");
        browser.viewport(390, 844, true);
        browser.navigate(base + "/");
        waitForImages();
        assertTrue(browser.eval("document.documentElement.scrollWidth <= window.innerWidth").asBoolean(),
                "no horizontal scrolling on a phone");
        shot("02-home-mobile");
    }

    @Test
    @Order(2)
    void searchingThroughTheFormFindsPromptWords() throws Exception {
        browser.navigate(base + "/");
        browser.awaitLoad(() -> browser.eval("document.querySelector('input[name=q]').value = 'lighthouses';"
                + " document.querySelector('form.filters button[type=submit]').click(); true"));
        assertTrue(browser.text("location.search").contains("q=lighthouses"), browser.text("location.href"));
        waitForImages();
        List<Long> cards = cardIds();
        assertEquals(3, cards.size(), "two images and a variation; stemmed: " + cards);
        assertTrue(cards.contains(lighthouse) && cards.contains(variation));
        assertEquals("lighthouses", browser.text("document.querySelector('input[name=q]').value"));
        shot("03-search");

        browser.awaitLoad(() -> browser.eval("document.querySelector('input[name=q]').value = 'kitten';"
                + " document.querySelector('select[name=model]').value = 'sd15';"
                + " document.querySelector('form.filters button[type=submit]').click(); true"));
        assertEquals(hostile.size(), cardIds().size(), "the crafted prompts are found as words");
        browser.navigate(base + "/?q=onerror");
        assertEquals(hostile.subList(0, 2), cardIds().stream().sorted().toList());
        browser.navigate(base + "/?q=unicorn");
        assertEquals(0, cardIds().size());
        assertTrue(bodyText().contains("No images match"));
    }

    @Test
    @Order(3)
    void filtersByModelAndSampler() throws Exception {
        browser.navigate(base + "/?model=sdxl");
        List<Long> sdxl = cardIds();
        assertTrue(sdxl.contains(fox));
        assertEquals(5, sdxl.size(), "4 fillers and the fox");
        assertEquals("sdxl", browser.text("document.querySelector('select[name=model]').value"));
        browser.navigate(base + "/?sampler=dpmpp_2m_karras");
        assertTrue(cardIds().contains(fox));
        assertTrue(bodyText().contains("DPM++ 2M Karras"));
        browser.navigate(base + "/?sampler=bogus");
        assertTrue(bodyText().contains("400 Bad request"));
    }

    @Test
    @Order(4)
    void imagePageShowsEverythingAndCopiesTheImagineLine() throws Exception {
        browser.navigate(base + "/image/" + fox);
        waitForImages();
        assertEquals(512, browser.eval("document.querySelector('figure.full img').naturalWidth").asInt());
        assertEquals("portrait of a red fox in snow, watercolor", browser.text("document.getElementById('prompt').textContent"));
        assertEquals("blurry, low quality", browser.text("document.getElementById('negative').textContent"));
        JsonNode table = browser.eval("Object.fromEntries(Array.from(document.querySelectorAll('table.params tr'))"
                + ".map(function (r) { return [r.cells[0].textContent, r.cells[1].textContent]; }))");
        assertEquals("sdxl", table.path("Model").asText());
        assertEquals("DPM++ 2M Karras", table.path("Sampler").asText());
        assertEquals("25", table.path("Steps").asText());
        assertEquals("7.5", table.path("CFG scale").asText());
        assertEquals("512 × 512", table.path("Size").asText());
        assertEquals("ann", table.path("Author").asText());
        assertTrue(table.path("Created").asText().endsWith("UTC"));
        String seedValue = table.path("Seed").asText();
        String line = "/imagine prompt:portrait of a red fox in snow, watercolor negative:blurry, low quality steps:25 "
                + "cfg:7.5 seed:" + seedValue + " sampler:dpmpp_2m_karras width:512 height:512 model:sdxl";
        assertEquals(line, browser.text("document.getElementById('imagine-line').textContent"));
        browser.eval("document.querySelector('button.copy').click(); true");
        browser.waitFor("document.querySelector('button.copy').textContent === 'Copied!'");
        assertEquals(line, browser.text("navigator.clipboard.readText()"), "the button put the line on the clipboard");
        shot("04-image-desktop");
        browser.viewport(390, 844, true);
        browser.navigate(base + "/image/" + fox);
        waitForImages();
        shot("05-image-mobile");
    }

    @Test
    @Order(5)
    void variationsAreLinkedBothWays() throws Exception {
        browser.navigate(base + "/image/" + lighthouse);
        waitForImages();
        assertTrue(browser.eval("!!document.querySelector('section.variations a[href=\"/image/" + variation + "\"]')")
                .asBoolean());
        shot("06-image-with-variations");
        browser.navigate(base + "/image/" + variation);
        assertTrue(browser.eval("!!document.querySelector('table.params a[href=\"/image/" + lighthouse + "\"]')")
                .asBoolean(), "made from");
    }

    @Test
    @Order(6)
    void craftedPromptsRenderAsTextOnTheirOwnPages() throws Exception {
        for (int i = 0; i < hostile.size(); i++) {
            long id = hostile.get(i);
            browser.navigate(base + "/image/" + id);
            waitForImages();
            String prompt = browser.text("document.getElementById('prompt').textContent");
            assertEquals(List.of(IMG_ALERT, IMG_PWN, SCRIPT, ATTR).get(i), prompt);
            assertTrue(browser.text("document.getElementById('imagine-line').textContent").contains(prompt));
            assertTrue(browser.text("document.title").contains(prompt.substring(0, 10)));
            assertEquals(EVIL_NAME, browser.text("document.querySelector('table.params a[href^=\"/user/\"]').textContent"));
            if (i == 3) {
                assertEquals(NEG, browser.text("document.getElementById('negative').textContent"));
                shot("07-image-hostile");
            }
            nothingRan();
        }
        browser.navigate(base + "/user/666");
        assertEquals(hostile.size(), cardIds().size());
        assertTrue(browser.text("document.querySelector('h1').textContent").equals("Images by " + EVIL_NAME));
        shot("08-user-hostile");
    }

    @Test
    @Order(7)
    void userPageAndPaging() throws Exception {
        browser.navigate(base + "/user/101");
        List<Long> ann = cardIds();
        assertEquals(4, ann.size(), "2 lighthouses, the boat, the fox; not the hidden castle: " + ann);
        assertFalse(ann.contains(hidden));
        browser.navigate(base + "/user/202");
        assertTrue(bodyText().contains("404 Not found"), "opted-out user");
        // walk the pages through the "Older" links
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/api/images?limit=5")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
    }

    @Test
    @Order(8)
    void hidingRemovesAnImageAtOnce() throws Exception {
        browser.navigate(base + "/image/" + laterHidden);
        waitForImages();
        assertEquals(HideResult.HIDDEN, store.hide(laterHidden, 999, true), "an admin hides it");
        browser.navigate(base + "/image/" + laterHidden);
        assertTrue(bodyText().contains("404 Not found"));
        browser.navigate(base + "/");
        assertFalse(cardIds().contains(laterHidden));
        assertFalse(bodyText().contains("a paper boat"));
        // the thumbnail the browser has cached is revalidated, and refused
        String reload = browser.text("new Promise(function (done) { var i = new Image();"
                + " i.onload = function () { done('loaded'); }; i.onerror = function () { done('refused'); };"
                + " i.src = '/thumb/" + laterHidden + ".jpg'; })");
        assertEquals("refused", reload);
        browser.navigate(base + "/image/" + hidden);
        assertTrue(bodyText().contains("404 Not found"));
        shot("09-not-found");
    }

    @Test
    @Order(9)
    void theRealBotServesTheSecurityHeaders() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        for (String path : List.of("/", "/image/" + fox, "/image/" + fox + ".png", "/api/images")) {
            HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(base + path)).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, r.statusCode(), path);
            assertEquals(GalleryHandler.CSP, r.headers().firstValue("Content-Security-Policy").orElseThrow(), path);
            assertEquals("nosniff", r.headers().firstValue("X-Content-Type-Options").orElseThrow());
        }
        HttpResponse<byte[]> png = http.send(HttpRequest.newBuilder(URI.create(base + "/image/" + fox + ".png")).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals("image/png", png.headers().firstValue("Content-Type").orElseThrow());
        HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create(base + "/"))
                .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(405, post.statusCode());
        // the browser enforces the policy: an inline script added to the page is refused
        browser.navigate(base + "/");
        browser.eval("var s = document.createElement('script'); s.textContent = 'window.__inline = 1';"
                + " document.body.appendChild(s); true");
        assertEquals("undefined", browser.text("typeof window.__inline"));
        assertTrue(browser.eval("window.__csp.length").asInt() >= 1);
        browser.eval("window.__csp.length = 0; document.body.lastChild.remove(); true");
    }
}
