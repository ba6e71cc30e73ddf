package org.diffusionbot.worker.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.TinyModels;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HubModelFetcherTest {
    private static final String SHA = "0123456789abcdef0123456789abcdef01234567";

    @TempDir
    Path models;

    private FakeHub hub;
    private final ByteArrayOutputStream progress = new ByteArrayOutputStream();

    @BeforeEach
    void start() throws IOException {
        hub = new FakeHub();
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    private HubModelFetcher fetcher() {
        return new HubModelFetcher(hub.uri(), null, models, new PrintStream(progress, true, StandardCharsets.UTF_8))
                .retryPause(Duration.ZERO);
    }

    @Test
    void downloadsTheTinyModelThatThenLoads() throws Exception {
        hub.addFolder("tiny/sd15", TinyModels.folderPath());
        hub.files.get("tiny/sd15").put("README.md", "not needed".getBytes(StandardCharsets.UTF_8));
        hub.files.get("tiny/sd15").put("unet/diffusion_pytorch_model.bin", new byte[] {1, 2, 3});

        Path dir = fetcher().fetch(RepoId.parse("tiny/sd15"));

        assertEquals(models.resolve("tiny--sd15").resolve(SHA), dir);
        assertArrayEquals(Files.readAllBytes(TinyModels.folderPath().resolve("unet/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(dir.resolve("unet/diffusion_pytorch_model.safetensors")));
        assertFalse(Files.exists(dir.resolve("README.md")));
        assertFalse(Files.exists(dir.resolve("unet/diffusion_pytorch_model.bin")), "pickles are never fetched");
        try (Stream<Path> s = Files.walk(dir)) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(".part")));
        }
        assertTrue(progress.toString(StandardCharsets.UTF_8).contains("100%"));
        StableDiffusionPipeline p = ModelLoader.load(dir, DataType.FLOAT32, Device.cpu());
        assertTrue(p.description() != null);
    }

    @Test
    void aCompletedDownloadIsReusedWithoutTheNetwork() throws Exception {
        hub.addFolder("tiny/sd15", TinyModels.folderPath());
        Path first = fetcher().fetch(RepoId.parse("tiny/sd15@main"));
        hub.requests.clear();
        hub.close();

        Path second = fetcher().fetch(RepoId.parse("tiny/sd15@main"));

        assertEquals(first, second);
        assertEquals(List.of(), hub.requests);
    }

    @Test
    void workersFetchingTheSameRepositoryAtOnceDownloadItOnce() throws Exception {
        hub.addFolder("tiny/sd15", TinyModels.folderPath());
        int workers = 4;
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(workers);
        try {
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            List<java.util.concurrent.Future<Path>> got = new ArrayList<>();
            for (int i = 0; i < workers; i++) {
                HubModelFetcher f = fetcher(); // one fetcher per worker, as separate processes have
                got.add(pool.submit(() -> {
                    go.await();
                    return f.fetch(RepoId.parse("tiny/sd15"));
                }));
            }
            go.countDown();
            Path expected = models.resolve("tiny--sd15").resolve(SHA);
            for (java.util.concurrent.Future<Path> g : got) {
                assertEquals(expected, g.get(60, java.util.concurrent.TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        List<String> downloads = hub.requests.stream().filter(r -> r.contains("/resolve/")).toList();
        assertEquals(downloads.size(), new java.util.HashSet<>(downloads).size(), "each file fetched once: " + downloads);
        assertTrue(downloads.stream().noneMatch(r -> r.contains("range=")), downloads.toString());
        assertEquals(1, hub.requests.stream().filter(r -> r.contains("/api/models/")).count(),
                "the others found the completed copy: " + hub.requests);
        assertArrayEquals(Files.readAllBytes(TinyModels.folderPath().resolve("unet/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(models.resolve("tiny--sd15").resolve(SHA).resolve("unet/diffusion_pytorch_model.safetensors")));
    }

    @Test
    void anInterruptedTransferResumesWithRangeAndVerifies() throws Exception {
        hub.addFolder("tiny/sd15", TinyModels.folderPath());
        String weights = "unet/diffusion_pytorch_model.safetensors";
        hub.cutAfter.put(weights, 1_000_000);

        Path dir = fetcher().fetch(RepoId.parse("tiny/sd15"));

        assertArrayEquals(hub.files.get("tiny/sd15").get(weights), Files.readAllBytes(dir.resolve(weights)));
        List<String> ranges = hub.requests.stream().filter(r -> r.contains(weights)).toList();
        assertEquals(2, ranges.size(), ranges.toString());
        String prefix = "GET /tiny/sd15/resolve/" + SHA + "/" + weights + " range=bytes=";
        assertTrue(ranges.get(1).startsWith(prefix), ranges.get(1));
        long resumedAt = Long.parseLong(ranges.get(1).substring(prefix.length(), ranges.get(1).length() - 1));
        assertTrue(resumedAt > 0 && resumedAt <= 1_000_000, "resumed at " + resumedAt);
    }

    @Test
    void aPartLeftByAnEarlierRunIsResumed() throws Exception {
        hub.addFolder("tiny/sd15", TinyModels.folderPath());
        String weights = "vae/diffusion_pytorch_model.safetensors";
        byte[] full = hub.files.get("tiny/sd15").get(weights);
        Path part = models.resolve("tiny--sd15").resolve(SHA).resolve(weights + ".part");
        Files.createDirectories(part.getParent());
        Files.write(part, java.util.Arrays.copyOf(full, 4096));

        Path dir = fetcher().fetch(RepoId.parse("tiny/sd15"));

        assertArrayEquals(full, Files.readAllBytes(dir.resolve(weights)));
        assertTrue(hub.requests.contains("GET /tiny/sd15/resolve/" + SHA + "/" + weights + " range=bytes=4096-"),
                hub.requests.toString());
    }

    @Test
    void aChecksumMismatchIsRefusedAndThePartRemoved() throws Exception {
        hub.addFolder("tiny/sd15", TinyModels.folderPath());
        String weights = "vae/diffusion_pytorch_model.safetensors";
        hub.wrongSha.add(weights);

        HubException e = assertThrows(HubException.class, () -> fetcher().fetch(RepoId.parse("tiny/sd15")));

        assertTrue(e.getMessage().contains(weights + " does not match the published checksum"), e.getMessage());
        Path dir = models.resolve("tiny--sd15").resolve(SHA);
        assertFalse(Files.exists(dir.resolve(weights + ".part")));
        assertFalse(Files.exists(dir.resolve(weights)));
        assertFalse(Files.exists(dir.resolve(HubModelFetcher.COMPLETE)));
    }

    @Test
    void aRepositoryWithOnlyPickleWeightsIsRefused() throws Exception {
        hub.addFolder("pickle/sd", TinyModels.folderPath());
        Map<String, byte[]> f = hub.files.get("pickle/sd");
        f.remove("unet/diffusion_pytorch_model.safetensors");
        f.put("unet/diffusion_pytorch_model.bin", new byte[] {1});

        HubException e = assertThrows(HubException.class, () -> fetcher().fetch(RepoId.parse("pickle/sd")));

        assertTrue(e.getMessage().contains("publishes its unet weights only as pickle files (.bin"), e.getMessage());
        assertTrue(e.getMessage().contains("which this worker never loads"), e.getMessage());
        assertTrue(e.getMessage().contains("choose a repository with .safetensors"), e.getMessage());
        assertTrue(hub.requests.stream().noneMatch(r -> r.contains("/resolve/")), "nothing downloaded");
    }

    @Test
    void missingFilesAreListedTogether() throws Exception {
        hub.addFolder("broken/sd", TinyModels.folderPath());
        Map<String, byte[]> f = hub.files.get("broken/sd");
        f.remove("vae/config.json");
        f.remove("text_encoder/model.safetensors");
        f.remove("tokenizer/merges.txt");
        f.remove("tokenizer/tokenizer.json");

        HubException e = assertThrows(HubException.class, () -> fetcher().fetch(RepoId.parse("broken/sd")));

        assertTrue(e.getMessage().contains("missing files"), e.getMessage());
        for (String m : List.of("vae/config.json", "text_encoder/model.safetensors", "tokenizer/merges.txt")) {
            assertTrue(e.getMessage().contains(m), e.getMessage());
        }
    }

    @Test
    void aSingleFileCheckpointRepositoryDownloadsThatFile() throws Exception {
        Map<String, byte[]> f = new TreeMap<>();
        f.put("README.md", new byte[] {1});
        f.put("single-file.safetensors", Files.readAllBytes(TinyModels.singleFilePath()));
        hub.files.put("one/ckpt", Collections.synchronizedMap(f));

        Path file = fetcher().fetch(RepoId.parse("one/ckpt"));

        assertEquals(models.resolve("one--ckpt").resolve(SHA).resolve("single-file.safetensors"), file);
        assertEquals(file, fetcher().fetch(RepoId.parse("one/ckpt")));
    }

    @Test
    void anUnknownRepositoryIsRefused() {
        HubException e = assertThrows(HubException.class, () -> fetcher().fetch(RepoId.parse("nobody/nothing")));
        assertTrue(e.getMessage().contains("no such repository"), e.getMessage());
    }

    @Test
    void badRepositoryIdsAreRefused() {
        for (String bad : List.of("", "name", "a/b/c", "../etc", "a/..", "a/b..c", "own er/x", "a/b@", "a/b@../x",
                "/abs/path", "a/b@rev/x", "-a/b")) {
            assertThrows(HubException.class, () -> RepoId.parse(bad), bad);
        }
        RepoId r = RepoId.parse("runwayml/stable-diffusion-v1.5@fp16");
        assertEquals("runwayml", r.owner());
        assertEquals("stable-diffusion-v1.5", r.name());
        assertEquals("fp16", r.revision());
        assertEquals("main", RepoId.parse("a_b/c-d").revision());
        assertTrue(RepoId.looksLike("owner/name"));
        assertFalse(RepoId.looksLike("/models/sd.safetensors"));
        assertFalse(RepoId.looksLike("models/sd.safetensors"));
        assertFalse(RepoId.looksLike("./models/x"));
    }

    /** Serves repositories under the hub's URL layout, with X-Linked-Etag/X-Linked-Size and Range support. */
    static final class FakeHub implements AutoCloseable {
        final Map<String, Map<String, byte[]>> files = new ConcurrentHashMap<>();
        final Map<String, Integer> cutAfter = new ConcurrentHashMap<>();
        final List<String> wrongSha = Collections.synchronizedList(new ArrayList<>());
        final List<String> requests = Collections.synchronizedList(new ArrayList<>());
        private final HttpServer server;
        private boolean closed;

        FakeHub() throws IOException {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            server.createContext("/", this::handle);
            server.start();
        }

        URI uri() {
            return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
        }

        void addFolder(String repo, Path dir) throws IOException {
            Map<String, byte[]> m = Collections.synchronizedMap(new TreeMap<>());
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.filter(Files::isRegularFile).toList()) {
                    m.put(dir.relativize(p).toString().replace('\\', '/'), Files.readAllBytes(p));
                }
            }
            files.put(repo, m);
        }

        private void handle(HttpExchange ex) throws IOException {
            try (ex) {
                String path = ex.getRequestURI().getPath();
                String range = ex.getRequestHeaders().getFirst("Range");
                requests.add(ex.getRequestMethod() + " " + path + (range == null ? "" : " range=" + range));
                String[] p = path.substring(1).split("/", 5);
                if (p.length == 5 && p[0].equals("api") && p[1].equals("models")) {
                    // /api/models/{owner}/{name}/revision/{rev}
                    String[] q = path.substring("/api/models/".length()).split("/");
                    Map<String, byte[]> repo = files.get(q[0] + "/" + q[1]);
                    if (repo == null || q.length != 4 || !q[2].equals("revision")) {
                        send(ex, 404, "{\"error\":\"Repository not found\"}".getBytes(StandardCharsets.UTF_8));
                        return;
                    }
                    StringBuilder json = new StringBuilder("{\"id\":\"" + q[0] + "/" + q[1] + "\",\"sha\":\"" + SHA
                            + "\",\"siblings\":[");
                    String sep = "";
                    for (String f : new ArrayList<>(repo.keySet())) {
                        json.append(sep).append("{\"rfilename\":\"").append(f).append("\"}");
                        sep = ",";
                    }
                    send(ex, 200, json.append("]}").toString().getBytes(StandardCharsets.UTF_8));
                    return;
                }
                // /{owner}/{name}/resolve/{sha}/{file...}
                Map<String, byte[]> repo = p.length == 5 ? files.get(p[0] + "/" + p[1]) : null;
                byte[] body = repo == null || !p[2].equals("resolve") || !p[3].equals(SHA) ? null : repo.get(p[4]);
                if (body == null) {
                    send(ex, 404, "Entry not found".getBytes(StandardCharsets.UTF_8));
                    return;
                }
                String file = p[4];
                String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body));
                if (wrongSha.contains(file)) {
                    sha = "f".repeat(64);
                }
                ex.getResponseHeaders().add("X-Linked-Etag", "\"" + sha + "\"");
                ex.getResponseHeaders().add("X-Linked-Size", Integer.toString(body.length));
                ex.getResponseHeaders().add("Accept-Ranges", "bytes");
                int from = 0;
                int status = 200;
                if (range != null && range.startsWith("bytes=") && range.endsWith("-")) {
                    from = Integer.parseInt(range.substring(6, range.length() - 1));
                    if (from >= body.length) {
                        ex.getResponseHeaders().add("Content-Range", "bytes */" + body.length);
                        ex.sendResponseHeaders(416, -1);
                        return;
                    }
                    status = 206;
                    ex.getResponseHeaders().add("Content-Range",
                            "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
                }
                int len = body.length - from;
                ex.sendResponseHeaders(status, len);
                Integer cut = cutAfter.remove(file);
                OutputStream out = ex.getResponseBody();
                if (cut != null) {
                    out.write(body, from, Math.min(cut, len));
                    out.flush();
                    throw new IOException("cut"); // drops the connection mid-body
                }
                out.write(body, from, len);
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
            ex.sendResponseHeaders(status, body.length);
            ex.getResponseBody().write(body);
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                server.stop(0);
            }
        }
    }
}
