package org.diffusionbot.worker.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.diffusionbot.common.config.Env;

/**
 * Downloads a Stable Diffusion model from a Hugging Face repository once into the models folder,
 * as {@code {modelsDir}/{owner}--{name}/{commit}/…}, and reuses it afterwards without network access.
 *
 * <p>Uses the hub's public layout: {@code GET {endpoint}/api/models/{repo}/revision/{rev}} lists the
 * commit ({@code sha}) and its files ({@code siblings[].rfilename}); each file is fetched from
 * {@code {endpoint}/{repo}/resolve/{commit}/{path}}. A file is written to {@code *.part}, resumed with
 * {@code Range} after an interrupted transfer or a restart, checked against the published checksum
 * ({@code X-Linked-Etag}: SHA-256 of LFS files; {@code ETag}: git blob SHA-1 of small files), and
 * only then moved into place. Only {@code .safetensors} weights are ever fetched. Processes sharing the
 * models folder (workers started together on one host) download a repository one at a time: a file lock
 * on {@code {owner}--{name}/.lock}; whoever waited finds the completed copy and reuses it.
 */
public final class HubModelFetcher {
    /** Marker written last into a completed download: the commit, then the model path inside it. */
    static final String COMPLETE = ".complete";
    private static final String[] COMPONENTS = {"unet", "vae", "text_encoder"};
    private static final List<String> WEIGHT_NAMES = List.of("diffusion_pytorch_model.safetensors", "model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors");
    private static final Pattern PICKLE = Pattern.compile(".*\\.(bin|ckpt|pt|pth|pkl)$");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern SHA1 = Pattern.compile("[0-9a-f]{40}");
    private static final int ATTEMPTS = 5;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI endpoint;
    private final String token;
    private final Path modelsDir;
    private final PrintStream progress;
    private final HttpClient http;
    /** Lock file in each repository folder, held while a process downloads into it. */
    static final String LOCK = ".lock";
    private static final ConcurrentHashMap<Path, Object> LOCAL_LOCKS = new ConcurrentHashMap<>();
    private Duration retryPause = Duration.ofSeconds(2);

    public HubModelFetcher(URI endpoint, String token, Path modelsDir, PrintStream progress) {
        String e = endpoint.toString();
        this.endpoint = URI.create(e.endsWith("/") ? e.substring(0, e.length() - 1) : e);
        this.token = token == null || token.isBlank() ? null : token.strip();
        this.modelsDir = modelsDir;
        this.progress = progress;
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(Duration.ofSeconds(20)).build();
    }

    /** {@code HF_ENDPOINT} (default https://huggingface.co), {@code HF_TOKEN}, {@code MODELS_DIR} (default ./models). */
    public static HubModelFetcher fromEnv(Env env) {
        return new HubModelFetcher(env.uri("HF_ENDPOINT", "https://huggingface.co", "http", "https"),
                env.raw("HF_TOKEN"), Path.of(env.string("MODELS_DIR", "./models")).toAbsolutePath().normalize(), System.err);
    }

    /** Pause between attempts of an interrupted transfer (tests shorten it). */
    HubModelFetcher retryPause(Duration pause) {
        this.retryPause = pause;
        return this;
    }

    /**
     * The local model for {@code repo}: a diffusers folder, or a single {@code .safetensors} file when the
     * repository publishes only that. Downloads it the first time; reuses the completed copy afterwards.
     */
    public Path fetch(RepoId repo) throws IOException, InterruptedException {
        Path repoDir = modelsDir.resolve(repo.owner() + "--" + repo.name());
        Path ref = repoDir.resolve("refs").resolve(repo.revision());
        Optional<Path> done = completed(repoDir, ref);
        if (done.isPresent()) {
            return done.get();
        }
        // one download per repository at a time: workers started together on one host share MODELS_DIR
        Files.createDirectories(repoDir);
        Object local = LOCAL_LOCKS.computeIfAbsent(repoDir.toAbsolutePath().normalize(), k -> new Object());
        synchronized (local) { // threads of this process (a file lock is held per process)
            try (FileChannel ch = FileChannel.open(repoDir.resolve(LOCK), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE)) {
                FileLock lock = ch.tryLock();
                if (lock == null) {
                    progress.println(repo + ": another process is downloading it into " + repoDir + "; waiting for it");
                    lock = ch.lock();
                }
                try {
                    done = completed(repoDir, ref); // finished by whoever held the lock
                    return done.isPresent() ? done.get() : fetchLocked(repo, repoDir, ref);
                } finally {
                    lock.release();
                }
            }
        }
    }

    private Path fetchLocked(RepoId repo, Path repoDir, Path ref) throws IOException, InterruptedException {
        JsonNode info = getJson(endpoint + "/api/models/" + repo.path() + "/revision/" + repo.revision(), repo);
        String sha = info.path("sha").asText("");
        if (!SHA1.matcher(sha).matches()) {
            throw new HubException(repo + ": the hub's answer names no commit (sha) for revision " + repo.revision());
        }
        Set<String> siblings = new TreeSet<>();
        for (JsonNode s : info.path("siblings")) {
            siblings.add(s.path("rfilename").asText());
        }
        Selection sel = select(repo, siblings);
        Path commitDir = repoDir.resolve(sha);
        for (String file : sel.files()) {
            Path target = commitDir.resolve(file).normalize();
            if (!target.startsWith(commitDir)) {
                throw new HubException(repo + ": refusing file name " + file);
            }
            download(repo, sha, file, target);
        }
        Files.writeString(commitDir.resolve(COMPLETE), sha + "\n" + sel.model() + "\n");
        Files.createDirectories(ref.getParent());
        Path tmp = ref.resolveSibling(repo.revision() + ".tmp");
        Files.writeString(tmp, sha + "\n");
        Files.move(tmp, ref, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return sel.model().isEmpty() ? commitDir : commitDir.resolve(sel.model());
    }

    private static Optional<Path> completed(Path repoDir, Path ref) throws IOException {
        if (!Files.isRegularFile(ref)) {
            return Optional.empty();
        }
        String sha = Files.readString(ref).strip();
        if (!SHA1.matcher(sha).matches()) {
            return Optional.empty();
        }
        Path marker = repoDir.resolve(sha).resolve(COMPLETE);
        if (!Files.isRegularFile(marker)) {
            return Optional.empty();
        }
        List<String> lines = Files.readAllLines(marker);
        if (lines.isEmpty() || !lines.get(0).equals(sha)) {
            return Optional.empty();
        }
        String model = lines.size() > 1 ? lines.get(1).strip() : "";
        Path p = model.isEmpty() ? repoDir.resolve(sha) : repoDir.resolve(sha).resolve(model);
        return Files.exists(p) ? Optional.of(p) : Optional.empty();
    }

    /** The files to download and the model path inside the commit folder ("" for the folder itself). */
    record Selection(List<String> files, String model) {
    }

    static Selection select(RepoId repo, Set<String> siblings) {
        if (siblings.contains("model_index.json")) {
            return selectDiffusers(repo, siblings);
        }
        List<String> roots = siblings.stream().filter(f -> !f.contains("/") && f.endsWith(".safetensors")).toList();
        String chosen = null;
        if (roots.size() == 1) {
            chosen = roots.get(0);
        } else if (roots.size() > 1) {
            for (String f : roots) {
                if (f.equalsIgnoreCase(repo.name() + ".safetensors")) {
                    chosen = f;
                }
            }
            if (chosen == null) {
                throw new HubException(repo + " has no model_index.json and several .safetensors checkpoints at its "
                        + "root (" + String.join(", ", roots) + "); download the one you want and set MODEL_PATH to it");
            }
        }
        if (chosen != null) {
            return new Selection(List.of(chosen), chosen);
        }
        List<String> pickles = siblings.stream().filter(f -> !f.contains("/") && PICKLE.matcher(f).matches()).toList();
        if (!pickles.isEmpty()) {
            throw pickleOnly(repo, "its checkpoint", pickles);
        }
        throw new HubException(repo + " is not a Stable Diffusion model this worker can use: it has no "
                + "model_index.json (diffusers) and no .safetensors checkpoint at its root");
    }

    private static Selection selectDiffusers(RepoId repo, Set<String> siblings) {
        Set<String> files = new LinkedHashSet<>();
        List<String> missing = new ArrayList<>();
        files.add("model_index.json");
        require(siblings, "scheduler/scheduler_config.json", files, missing);
        for (String c : COMPONENTS) {
            require(siblings, c + "/config.json", files, missing);
            String weights = WEIGHT_NAMES.stream().map(w -> c + "/" + w).filter(siblings::contains).findFirst()
                    .orElse(null);
            if (weights != null) {
                files.add(weights);
                continue;
            }
            List<String> pickles = siblings.stream()
                    .filter(f -> f.startsWith(c + "/") && f.indexOf('/', c.length() + 1) < 0 && PICKLE.matcher(f).matches())
                    .toList();
            if (!pickles.isEmpty()) {
                throw pickleOnly(repo, "its " + c + " weights", pickles);
            }
            missing.add(c + "/" + WEIGHT_NAMES.get(c.equals("text_encoder") ? 1 : 0));
        }
        boolean vocab = siblings.contains("tokenizer/vocab.json") && siblings.contains("tokenizer/merges.txt");
        if (vocab) {
            files.add("tokenizer/vocab.json");
            files.add("tokenizer/merges.txt");
        } else if (siblings.contains("tokenizer/tokenizer.json")) {
            files.add("tokenizer/tokenizer.json");
        } else {
            require(siblings, "tokenizer/vocab.json", files, missing);
            require(siblings, "tokenizer/merges.txt", files, missing);
        }
        for (String optional : List.of("tokenizer/tokenizer_config.json", "tokenizer/special_tokens_map.json")) {
            if (siblings.contains(optional)) {
                files.add(optional);
            }
        }
        if (!missing.isEmpty()) {
            throw new HubException(repo + " is missing files a diffusers Stable Diffusion model needs: "
                    + String.join(", ", missing));
        }
        return new Selection(List.copyOf(files), "");
    }

    private static void require(Set<String> siblings, String f, Set<String> files, List<String> missing) {
        if (siblings.contains(f)) {
            files.add(f);
        } else {
            missing.add(f);
        }
    }

    private static HubException pickleOnly(RepoId repo, String what, List<String> files) {
        String ext = files.get(0).substring(files.get(0).lastIndexOf('.'));
        return new HubException(repo + " publishes " + what + " only as pickle files (" + ext + ": "
                + String.join(", ", files) + "), which this worker never loads (they can run arbitrary code); "
                + "choose a repository with .safetensors");
    }

    private HttpRequest.Builder request(String url) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(2))
                .header("User-Agent", "diffusionbot-worker");
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return b;
    }

    private JsonNode getJson(String url, RepoId repo) throws IOException, InterruptedException {
        HttpResponse<byte[]> r;
        try {
            r = http.send(request(url).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new HubException(repo + ": cannot reach the hub at " + endpoint + " (" + e + ")", e);
        }
        if (r.statusCode() == 404 || r.statusCode() == 401 || r.statusCode() == 403) {
            throw new HubException(repo + ": no such repository or revision on " + endpoint + " (HTTP " + r.statusCode()
                    + (token == null ? "; a private or gated repository needs HF_TOKEN)" : ")"));
        }
        if (r.statusCode() != 200) {
            throw new HubException(repo + ": the hub answered HTTP " + r.statusCode() + " for " + url);
        }
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new HubException(repo + ": the hub's answer for " + url + " is not JSON", e);
        }
    }

    private void download(RepoId repo, String sha, String file, Path target) throws IOException, InterruptedException {
        if (Files.isRegularFile(target)) {
            return; // moved into place only after its checksum matched
        }
        Files.createDirectories(target.getParent());
        Path part = target.resolveSibling(target.getFileName() + ".part");
        String url = endpoint + "/" + repo.path() + "/resolve/" + sha + "/" + file;
        IOException last = null;
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            try {
                if (transfer(repo, file, url, part)) {
                    Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                    return;
                }
            } catch (IOException e) {
                last = e;
                progress.printf(Locale.ROOT, "%n%s: transfer interrupted (%s), resuming (attempt %d of %d)%n",
                        file, e.getMessage(), attempt + 1, ATTEMPTS);
            }
            if (attempt < ATTEMPTS) {
                Thread.sleep(retryPause.toMillis());
            }
        }
        throw new HubException(repo + ": downloading " + file + " failed after " + ATTEMPTS + " attempts ("
                + (last == null ? "incomplete" : last.getMessage()) + "); run again to resume", last);
    }

    /** One attempt: appends to {@code part} from where it stops; true when complete and verified. */
    private boolean transfer(RepoId repo, String file, String url, Path part) throws IOException, InterruptedException {
        long have = Files.isRegularFile(part) ? Files.size(part) : 0;
        HttpRequest.Builder b = request(url).GET();
        if (have > 0) {
            b.header("Range", "bytes=" + have + "-");
        }
        HttpResponse<InputStream> r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream in = r.body()) {
            int status = r.statusCode();
            String expected = checksum(r);
            long total = size(r, status == 206 ? have : 0);
            if (status == 416 && have > 0) {
                verify(repo, file, part, expected, have);
                return true;
            }
            if (status == 404) {
                throw new HubException(repo + ": " + file + " is listed but not served (HTTP 404)");
            }
            if (status == 401 || status == 403) {
                throw new HubException(repo + ": access to " + file + " refused (HTTP " + status + ")"
                        + (token == null ? "; a gated repository needs HF_TOKEN" : "; check HF_TOKEN"));
            }
            if (status != 200 && status != 206) {
                throw new IOException("HTTP " + status);
            }
            if (file.endsWith(".safetensors") && expected == null) {
                throw new HubException(repo + ": the hub published no SHA-256 checksum (X-Linked-Etag) for " + file
                        + "; refusing unverified weights");
            }
            boolean append = status == 206;
            long done = append ? have : 0;
            Bar bar = new Bar(file, total);
            try (OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
                byte[] buf = new byte[1 << 16];
                int n;
                while ((n = in.read(buf)) >= 0) {
                    out.write(buf, 0, n);
                    done += n;
                    bar.update(done);
                }
            } finally {
                bar.finish(done);
            }
            if (total > 0 && done < total) {
                throw new IOException("connection closed after " + done + " of " + total + " bytes");
            }
            verify(repo, file, part, expected, done);
            return true;
        }
    }

    private void verify(RepoId repo, String file, Path part, String expected, long size) throws IOException {
        if (expected == null) {
            return;
        }
        String actual;
        if (SHA256.matcher(expected).matches()) {
            actual = digest("SHA-256", null, part);
        } else if (SHA1.matcher(expected).matches()) {
            actual = digest("SHA-1", ("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII), part);
        } else {
            return; // not a content checksum (a small file served without one)
        }
        if (!actual.equals(expected)) {
            Files.deleteIfExists(part);
            throw new HubException(repo + ": " + file + " does not match the published checksum (expected " + expected
                    + ", got " + actual + "); the partial download was deleted, run again to retry");
        }
    }

    private static String digest(String algorithm, byte[] prefix, Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance(algorithm);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        if (prefix != null) {
            md.update(prefix);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) >= 0) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** X-Linked-Etag (LFS: SHA-256) or ETag of the response or of a redirect before it; lower case, unquoted. */
    private static String checksum(HttpResponse<?> r) {
        for (HttpResponse<?> x = r; x != null; x = x.previousResponse().orElse(null)) {
            Optional<String> v = x.headers().firstValue("X-Linked-Etag");
            if (v.isPresent()) {
                return clean(v.get());
            }
        }
        for (HttpResponse<?> x = r; x != null; x = x.previousResponse().orElse(null)) {
            Optional<String> v = x.headers().firstValue("ETag");
            if (v.isPresent()) {
                return clean(v.get());
            }
        }
        return null;
    }

    private static String clean(String etag) {
        String e = etag.strip();
        if (e.startsWith("W/")) {
            e = e.substring(2);
        }
        return e.replace("\"", "").toLowerCase(Locale.ROOT);
    }

    /** The whole file's size: X-Linked-Size, else the body's length (plus {@code offset} for a 206). */
    private static long size(HttpResponse<?> r, long offset) {
        for (HttpResponse<?> x = r; x != null; x = x.previousResponse().orElse(null)) {
            Optional<String> v = x.headers().firstValue("X-Linked-Size");
            if (v.isPresent()) {
                try {
                    return Long.parseLong(v.get().strip());
                } catch (NumberFormatException ignored) {
                    // fall through to Content-Length
                }
            }
        }
        return r.headers().firstValueAsLong("Content-Length").stream().map(n -> n + offset).findFirst().orElse(-1L);
    }

    /** A progress bar on one line of stderr, redrawn at most every 200 ms. */
    private final class Bar {
        private final String name;
        private final long total;
        private long lastDraw;

        Bar(String name, long total) {
            this.name = name;
            this.total = total;
        }

        void update(long done) {
            long now = System.nanoTime();
            if (now - lastDraw >= 200_000_000L) {
                lastDraw = now;
                draw(done, false);
            }
        }

        void finish(long done) {
            draw(done, true);
        }

        private void draw(long done, boolean end) {
            String line;
            if (total > 0) {
                int pct = (int) Math.min(100, done * 100 / total);
                int fill = pct * 30 / 100;
                line = String.format(Locale.ROOT, "\r%-40s [%s%s] %s / %s %3d%%", name, "#".repeat(fill),
                        " ".repeat(30 - fill), human(done), human(total), pct);
            } else {
                line = String.format(Locale.ROOT, "\r%-40s %s", name, human(done));
            }
            progress.print(end ? line + System.lineSeparator() : line);
            progress.flush();
        }
    }

    static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
