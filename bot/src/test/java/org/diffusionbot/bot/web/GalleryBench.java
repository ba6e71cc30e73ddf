package org.diffusionbot.bot.web;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.image.GenerationParameters;
import org.diffusionbot.db.Database;
import org.diffusionbot.db.GalleryCursor;
import org.diffusionbot.db.GalleryPage;
import org.diffusionbot.db.GalleryQuery;
import org.diffusionbot.db.GalleryStore;
import org.diffusionbot.db.TestDatabase;
import org.junit.jupiter.api.Test;

/**
 * Gallery response times with 10,000 images in the database (not part of the test suite: Failsafe runs
 * it only when named). Inserts the images in bulk (the V2 trigger fills the gallery columns as for the
 * bot's own inserts), then times HTTP requests from a client in the same JVM to a {@link WebServer} on
 * the real PostgreSQL: 200 warm-up requests, then 200 timed ones per URL; prints median and p99, and the
 * EXPLAIN ANALYZE plans. Run:
 * {@code mvn -B -ntp verify -pl bot -am -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false -Dit.test=GalleryBench -Dfailsafe.failIfNoSpecifiedTests=false}
 * (results also in {@code bot/target/gallery-bench.txt}).
 */
class GalleryBench {
    static final int IMAGES = Integer.getInteger("bench.images", 10_000);
    static final int WARMUP = 200;
    static final int RUNS = 200;

    @Test
    void firstPageWithTenThousandImages() throws Exception {
        // a pattern such as -Dtest='Gallery*' matches this class too: run only when asked for by name
        org.junit.jupiter.api.Assumptions.assumeTrue("GalleryBench".equals(System.getProperty("it.test"))
                || Boolean.getBoolean("gallery.bench"), "benchmark: run with -Dit.test=GalleryBench");
        StringBuilder report = new StringBuilder();
        try (TestDatabase testDb = TestDatabase.create(); Database db = Database.start(testDb.settings())) {
            long t0 = System.nanoTime();
            seed(db);
            report.append(String.format("seeded %d images in %.1f s%n", IMAGES, (System.nanoTime() - t0) / 1e9));
            GalleryStore store = new GalleryStore(db.dataSource());
            try (WebServer web = new WebServer("127.0.0.1", 0, () -> true, store)) {
                String base = "http://127.0.0.1:" + web.port();
                GalleryPage first = store.page(GalleryQuery.latest(GalleryHandler.PAGE_SIZE));
                GalleryCursor deep = first.next();
                for (int i = 0; i < 100; i++) {
                    deep = store.page(GalleryQuery.latest(GalleryHandler.PAGE_SIZE).after(deep)).next();
                }
                Map<String, String> urls = new LinkedHashMap<>();
                urls.put("first page (HTML)", "/");
                urls.put("first page (JSON, 30)", "/api/images?limit=30");
                urls.put("page 102 (HTML, cursor)", "/?before=" + deep.token());
                urls.put("search 'lighthouse' (HTML)", "/?q=lighthouse");
                urls.put("model filter (HTML)", "/?model=sdxl");
                urls.put("sampler filter (HTML)", "/?sampler=ddim");
                urls.put("user page (HTML)", "/user/1007");
                urls.put("image page", "/image/" + first.items().get(0).id());
                urls.put("thumbnail", "/thumb/" + first.items().get(0).id() + ".jpg");
                HttpClient http = HttpClient.newHttpClient();
                report.append(String.format("%-28s %9s %9s %9s%n", "request", "median ms", "p99 ms", "max ms"));
                for (Map.Entry<String, String> u : urls.entrySet()) {
                    HttpRequest req = HttpRequest.newBuilder(URI.create(base + u.getValue())).build();
                    for (int i = 0; i < WARMUP; i++) {
                        check(http.send(req, HttpResponse.BodyHandlers.ofByteArray()), u.getValue());
                    }
                    long[] ns = new long[RUNS];
                    for (int i = 0; i < RUNS; i++) {
                        long s = System.nanoTime();
                        check(http.send(req, HttpResponse.BodyHandlers.ofByteArray()), u.getValue());
                        ns[i] = System.nanoTime() - s;
                    }
                    Arrays.sort(ns);
                    report.append(String.format("%-28s %9.2f %9.2f %9.2f%n", u.getKey(), ns[RUNS / 2] / 1e6,
                            ns[(int) Math.ceil(RUNS * 0.99) - 1] / 1e6, ns[RUNS - 1] / 1e6));
                }
                for (Map.Entry<String, GalleryQuery> e : Map.of(
                        "1 latest", GalleryQuery.latest(GalleryHandler.PAGE_SIZE),
                        "2 model", new GalleryQuery(null, "sdxl", null, null, null, GalleryHandler.PAGE_SIZE),
                        "3 user", new GalleryQuery(1007L, null, null, null, null, GalleryHandler.PAGE_SIZE),
                        "4 search", new GalleryQuery(null, null, null, "lighthouse", null, GalleryHandler.PAGE_SIZE),
                        "5 deep cursor", GalleryQuery.latest(GalleryHandler.PAGE_SIZE).after(deep))
                        .entrySet().stream().sorted(Map.Entry.comparingByKey()).toList()) {
                    report.append("\nEXPLAIN ").append(e.getKey()).append(":\n").append(store.explain(e.getValue()));
                }
            }
        }
        System.out.println(report);
        Files.writeString(Path.of("target", "gallery-bench.txt"), report.toString());
    }

    private static void check(HttpResponse<byte[]> r, String url) {
        if (r.statusCode() != 200) {
            throw new IllegalStateException(url + " answered " + r.statusCode());
        }
    }

    /** 40 users (2 opted out), 10,000 images over 30 days, 3% hidden, prompts from a small vocabulary. */
    private static void seed(Database db) throws Exception {
        GenerationParameters p = new GenerationParameters("bench", "", 25, Sampler.EULER_A, 7, 1, 512, 512, "sd15", 1,
                null);
        byte[] png = GalleryFixtures.picture(p, 48);
        byte[] thumb = org.diffusionbot.bot.jobs.Thumbnails.of(png);
        List<String> samplers = Arrays.stream(Sampler.values()).map(Sampler::id).toList();
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("INSERT INTO users (id, name, gallery_public) SELECT 1000 + n, 'user' || n, n NOT IN (3, 4)"
                    + " FROM generate_series(0, 39) n");
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO jobs (id, user_id, channel_id, model, prompt, negative_prompt, width, height, steps, cfg,
                                      sampler, seed, image_count, request, state, quota_charged, charged_on,
                                      created_at, finished_at)
                    SELECT gen_random_uuid(), 1000 + n % 40, 1, (ARRAY['sd15', 'sdxl', 'dreamshaper'])[1 + n % 3],
                           (ARRAY['a lighthouse', 'a red fox', 'a cozy cabin', 'a cyberpunk street', 'an astronaut cat',
                                  'a bowl of ramen', 'a paper dragon', 'a desert canyon'])[1 + n % 8]
                             || ' ' || (ARRAY['at sunset', 'in snow', 'at night', 'in the rain', 'in a forest'])[1 + n % 5]
                             || ', ' || (ARRAY['oil painting', 'watercolor', '35mm photo', 'studio ghibli style',
                                             'volumetric light', 'highly detailed'])[1 + n % 6] || ' #' || n,
                           'blurry', 512, 512, 25, 7, (?::text[])[1 + n % 8], n, 1, '{}'::jsonb, 'succeeded', 1,
                           current_date, now() - (n * interval '4 minutes'), now() - (n * interval '4 minutes')
                      FROM generate_series(1, ?) n""")) {
                ps.setArray(1, c.createArrayOf("text", samplers.toArray()));
                ps.setInt(2, IMAGES);
                ps.execute();
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO images (job_id, image_index, seed, width, height, png, thumbnail, parameters, created_at,
                                        visible)
                    SELECT id, 0, seed, 512, 512, ?, ?, prompt || E'\\nSteps: 25', finished_at, seed % 33 <> 0
                      FROM jobs""")) {
                ps.setBytes(1, png);
                ps.setBytes(2, thumb);
                ps.execute();
            }
            s.execute("ANALYZE");
        }
    }
}
