package org.diffusionbot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The gallery's queries and rules on the real PostgreSQL server. */
class GalleryStoreIT {
    static TestDatabase testDb;
    static Database db;
    GalleryStore gallery;
    GallerySeed seed;

    @BeforeAll
    static void start() throws SQLException {
        testDb = TestDatabase.create();
        db = Database.start(testDb.settings());
    }

    @AfterAll
    static void stop() throws SQLException {
        db.close();
        testDb.close();
    }

    @BeforeEach
    void clean() throws SQLException {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("TRUNCATE users, quotas, jobs, images CASCADE");
        }
        gallery = new GalleryStore(db.dataSource());
        seed = new GallerySeed(db.dataSource(), GallerySeed.TINY);
    }

    private List<Long> ids(GalleryQuery q) {
        return gallery.page(q).items().stream().map(GalleryItem::id).toList();
    }

    @Test
    void showsLatestFirstWithAuthorAndPrompt() {
        long a = seed.addOne(GallerySeed.Spec.of(1, "ann", "a red fox in snow"));
        long b = seed.addOne(GallerySeed.Spec.of(2, "bob", "a blue whale"));
        GalleryPage page = gallery.page(GalleryQuery.latest(10));
        assertEquals(List.of(b, a), page.items().stream().map(GalleryItem::id).toList());
        assertNull(page.next());
        GalleryItem top = page.items().get(0);
        assertEquals("bob", top.userName());
        assertEquals("a blue whale", top.prompt());
        assertEquals("sd15", top.model());
        assertEquals("euler_a", top.sampler());
    }

    @Test
    void hiddenImagesAndOptedOutUsersAreGoneEverywhere() {
        long shown = seed.addOne(GallerySeed.Spec.of(1, "ann", "lighthouse at dusk"));
        long hidden = seed.addOne(GallerySeed.Spec.of(1, "ann", "lighthouse at dawn"));
        long priv = seed.addOne(GallerySeed.Spec.of(2, "bob", "lighthouse in fog"));
        assertEquals(HideResult.HIDDEN, gallery.hide(hidden, 1, false));
        assertTrue(gallery.setGalleryPublic(2, false));

        assertEquals(List.of(shown), ids(GalleryQuery.latest(10)));
        assertEquals(List.of(shown), ids(new GalleryQuery(null, null, null, "lighthouse", null, 10)));
        assertEquals(List.of(), ids(new GalleryQuery(2L, null, null, null, null, 10)));
        assertEquals(List.of(shown), ids(new GalleryQuery(null, "sd15", null, null, null, 10)));
        for (long gone : List.of(hidden, priv)) {
            assertTrue(gallery.image(gone).isEmpty());
            assertTrue(gallery.png(gone).isEmpty());
            assertTrue(gallery.thumbnail(gone).isEmpty());
            assertFalse(gallery.isVisible(gone));
        }
        assertTrue(gallery.publicUserName(2).isEmpty());
        assertEquals("ann", gallery.publicUserName(1).orElseThrow());
        assertTrue(gallery.image(shown).isPresent());
        assertTrue(gallery.isVisible(shown));

        // opting back in brings bob's images back; hiding is permanent
        assertTrue(gallery.setGalleryPublic(2, true));
        assertEquals(List.of(priv, shown), ids(GalleryQuery.latest(10)));
        assertFalse(gallery.setGalleryPublic(99, false), "unknown user");
        gallery.setGalleryPublic(99, "newcomer", false);
        assertTrue(gallery.publicUserName(99).isEmpty());
    }

    @Test
    void variationsOfHiddenOrPrivateImagesAreNotListedAndParentLinksRespectVisibility() {
        long parent = seed.addOne(GallerySeed.Spec.of(1, "ann", "castle"));
        long v1 = seed.addOne(GallerySeed.Spec.of(2, "bob", "castle").parent(parent));
        long v2 = seed.addOne(GallerySeed.Spec.of(1, "ann", "castle").parent(parent));
        assertEquals(List.of(v2, v1), gallery.variations(parent, 10).stream().map(GalleryItem::id).toList());
        assertEquals(parent, gallery.image(v1).orElseThrow().parentImageId());
        assertEquals("variation", gallery.image(v1).orElseThrow().kind());
        gallery.setGalleryPublic(2, false);
        assertEquals(List.of(v2), gallery.variations(parent, 10).stream().map(GalleryItem::id).toList());
        gallery.hide(parent, 1, false);
        assertNull(gallery.image(v2).orElseThrow().parentImageId(), "no link to a hidden image");
    }

    @Test
    void keysetPagingHasNoDuplicatesOrGapsEvenWithEqualTimestamps() {
        // images of one job share created_at (one transaction): the id breaks the tie
        List<Long> all = new ArrayList<>();
        for (int j = 0; j < 9; j++) {
            all.addAll(seed.add(GallerySeed.Spec.of(1 + j % 3, "user" + j % 3, "job " + j).count(1 + j % 4)));
        }
        for (int pageSize : new int[] {1, 2, 3, 7, 100}) {
            List<Long> seen = new ArrayList<>();
            GalleryQuery q = GalleryQuery.latest(pageSize);
            int pages = 0;
            while (true) {
                GalleryPage p = gallery.page(q);
                assertTrue(p.items().size() <= pageSize);
                p.items().forEach(i -> seen.add(i.id()));
                pages++;
                if (p.next() == null) {
                    break;
                }
                assertEquals(p.items().get(p.items().size() - 1).cursor(), p.next());
                // the cursor survives its text form
                q = q.after(GalleryCursor.parse(p.next().token()).orElseThrow());
            }
            assertEquals(all.size(), seen.size(), "page size " + pageSize);
            assertEquals(new HashSet<>(all), new HashSet<>(seen), "no gaps");
            assertEquals(seen.size(), new HashSet<>(seen).size(), "no duplicates");
            assertEquals((all.size() + pageSize - 1) / pageSize, pages);
            assertEquals(seen, sortedNewestFirst(seen));
        }
    }

    private List<Long> sortedNewestFirst(List<Long> ids) {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT id FROM images ORDER BY created_at DESC, id DESC")) {
            List<Long> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getLong(1));
            }
            return out;
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void searchFindsWordsStemmedAndInWebSyntax() {
        long cats = seed.addOne(GallerySeed.Spec.of(1, "ann", "two cats painting a watercolor landscape"));
        long dog = seed.addOne(GallerySeed.Spec.of(1, "ann", "a dog wearing a red hat").negative("cat"));
        long both = seed.addOne(GallerySeed.Spec.of(2, "bob", "cat and dog, oil painting"));
        assertEquals(List.of(both, cats), ids(search("cat")), "stemmed: cat finds cats; the negative prompt is not searched");
        assertEquals(List.of(both, cats), ids(search("painted")));
        assertEquals(List.of(both), ids(search("cat dog")), "all words");
        assertEquals(List.of(cats), ids(search("cat -dog")));
        assertEquals(List.of(dog), ids(search("\"red hat\"")));
        assertEquals(List.of(both, dog), ids(search("hat or oil")));
        assertEquals(List.of(), ids(search("unicorn")));
        assertEquals(List.of(), ids(search("the a of")), "stop words only: nothing, and no error");
        assertEquals(List.of(both), ids(new GalleryQuery(2L, null, null, "cat", null, 10)), "search within a user");
        long lora = seed.addOne(GallerySeed.Spec.of(1, "ann", "castle <lora:add_detail:0.8> (masterpiece:1.2)"));
        assertEquals(List.of(lora), ids(search("add_detail")), "LoRA tags are searchable");
        assertEquals(List.of(lora), ids(search("masterpiece")));
    }

    private static GalleryQuery search(String q) {
        return new GalleryQuery(null, null, null, q, null, 10);
    }

    @Test
    void filtersByUserModelAndSamplerCombine() {
        long a = seed.addOne(GallerySeed.Spec.of(1, "ann", "x").model("sdxl").sampler(Sampler.DDIM));
        long b = seed.addOne(GallerySeed.Spec.of(1, "ann", "x").model("sd15").sampler(Sampler.DDIM));
        long c = seed.addOne(GallerySeed.Spec.of(2, "bob", "x").model("sdxl").sampler(Sampler.EULER));
        assertEquals(List.of(c, a), ids(new GalleryQuery(null, "sdxl", null, null, null, 10)));
        assertEquals(List.of(b, a), ids(new GalleryQuery(null, null, "ddim", null, null, 10)));
        assertEquals(List.of(a), ids(new GalleryQuery(null, "sdxl", "ddim", null, null, 10)));
        assertEquals(List.of(b, a), ids(new GalleryQuery(1L, null, null, null, null, 10)));
        assertEquals(List.of(c), ids(new GalleryQuery(2L, "sdxl", "euler", null, null, 10)));
        assertEquals(List.of(), ids(new GalleryQuery(2L, "sd15", null, null, null, 10)));
        assertEquals(List.of("sd15", "sdxl"), gallery.models());
        gallery.hide(b, 1, false);
        assertEquals(List.of("sdxl"), gallery.models(), "models of hidden images are not offered");
    }

    @Test
    void onlyTheAuthorOrAnAdminMayHide() {
        long img = seed.addOne(GallerySeed.Spec.of(1, "ann", "portrait"));
        seed.addOne(GallerySeed.Spec.of(2, "bob", "other"));
        assertEquals(HideResult.FORBIDDEN, gallery.hide(img, 2, false));
        assertTrue(gallery.image(img).isPresent(), "a refused hide changes nothing");
        assertEquals(HideResult.HIDDEN, gallery.hide(img, 1, false));
        assertEquals(HideResult.ALREADY_HIDDEN, gallery.hide(img, 1, false));
        assertEquals(HideResult.NOT_FOUND, gallery.hide(987654, 1, true));

        long other = seed.addOne(GallerySeed.Spec.of(1, "ann", "landscape"));
        assertEquals(HideResult.HIDDEN, gallery.hide(other, 42, true), "an admin may hide anyone's image");
        assertTrue(gallery.image(other).isEmpty());
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT visible, hidden_by, hidden_at IS NOT NULL FROM images WHERE id = "
                        + img)) {
            rs.next();
            assertFalse(rs.getBoolean(1));
            assertEquals(1, rs.getLong(2));
            assertTrue(rs.getBoolean(3));
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void injectionLookingInputIsJustText() {
        String hostile = "'; DROP TABLE images; --";
        long img = seed.addOne(GallerySeed.Spec.of(1, "Robert'); DROP TABLE users;--", hostile));
        for (String s : List.of(hostile, "x' OR '1'='1", "\\", "':*", "!!!", "(((", "a & | ! <-> b", "' OR 1=1 --")) {
            gallery.page(new GalleryQuery(null, s, s, s, null, 10));
            gallery.page(new GalleryQuery(null, null, null, s, null, 10));
        }
        assertEquals(List.of(img), ids(search("drop table")), "found as words");
        assertEquals(List.of(), ids(new GalleryQuery(null, "x' OR '1'='1", null, null, null, 10)));
        assertEquals(List.of(), ids(new GalleryQuery(null, null, "' OR 1=1 --", null, null, 10)));
        assertEquals(List.of(img), ids(GalleryQuery.latest(10)), "nothing was dropped");
        assertEquals(hostile, gallery.image(img).orElseThrow().prompt());
        assertEquals("Robert'); DROP TABLE users;--", gallery.image(img).orElseThrow().userName());
    }

    @Test
    void imageCarriesEveryParameter() {
        long img = seed.add(GallerySeed.Spec.of(7, "ann", "a teapot").negative("blurry").model("sdxl")
                .sampler(Sampler.DPMPP_2M_KARRAS).count(2)).get(1);
        GalleryImage g = gallery.image(img).orElseThrow();
        assertEquals("a teapot", g.prompt());
        assertEquals("blurry", g.negativePrompt());
        assertEquals("sdxl", g.model());
        assertEquals("dpmpp_2m_karras", g.sampler());
        assertEquals(25, g.steps());
        assertEquals(7.5, g.cfg());
        assertEquals(512, g.width());
        assertEquals(1, g.index());
        assertEquals(7, g.userId());
        assertEquals("ann", g.userName());
        assertNull(g.parentImageId());
        assertTrue(g.parameters().contains("Sampler: DPM++ 2M, Schedule type: Karras"), g.parameters());
        assertTrue(g.parameters().contains("Seed: " + g.seed()));
    }

    @Test
    void pageSizeIsBoundedAndCursorTextIsStrict() {
        assertEquals(GalleryStore.MAX_PAGE, new GalleryQuery(null, null, null, null, null, 100_000).limit());
        assertEquals(1, new GalleryQuery(null, null, null, null, null, -5).limit());
        for (String bad : new String[] {"", "-", "1", "x-1", "1-x", "-1-2", "1--2", "99999999999999999999-1", "1-2-3"}) {
            assertTrue(GalleryCursor.parse(bad).isEmpty(), bad);
        }
        assertTrue(GalleryCursor.parse("1714567890123456-42").isPresent());
    }
}
