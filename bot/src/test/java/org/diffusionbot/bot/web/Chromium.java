package org.diffusionbot.bot.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Debian's headless Chromium, driven over the Chrome DevTools Protocol with the JDK's WebSocket
 * client: no driver, no download. Records every JavaScript dialog (alert, confirm, prompt) a page
 * opens, and dismisses it, so a test can assert that none did, and every console message and CSP
 * violation.
 */
final class Chromium implements AutoCloseable {
    static final Path BINARY = Path.of(System.getProperty("chromium.binary", "/usr/bin/chromium"));
    private static final Pattern LISTENING = Pattern.compile("DevTools listening on (ws://\\S+)");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final Path profile;
    private final WebSocket ws;
    private final AtomicInteger ids = new AtomicInteger();
    private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final List<String> dialogs = Collections.synchronizedList(new ArrayList<>());
    private final List<String> console = Collections.synchronizedList(new ArrayList<>());
    private volatile CountDownLatch load = new CountDownLatch(1);

    private Chromium(Process process, Path profile, WebSocket ws) {
        this.process = process;
        this.profile = profile;
        this.ws = ws;
    }

    static boolean available() {
        return Files.isExecutable(BINARY);
    }

    static Chromium start() throws Exception {
        if (!available()) {
            throw new IllegalStateException(BINARY + " is missing: install Debian's chromium package "
                    + "(apt-get install -y chromium chromium-driver; .ci/run does this)");
        }
        Path profile = Files.createTempDirectory("gallery-chromium-");
        Process p = new ProcessBuilder(BINARY.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                "--user-data-dir=" + profile, "--remote-debugging-port=0", "--remote-allow-origins=*",
                "--window-size=1280,900", "about:blank")
                .redirectErrorStream(true).start();
        String wsUrl = null;
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        StringBuilder log = new StringBuilder();
        String line;
        while (System.nanoTime() < deadline && (line = out.readLine()) != null) {
            log.append(line).append('\n');
            Matcher m = LISTENING.matcher(line);
            if (m.find()) {
                wsUrl = m.group(1);
                break;
            }
        }
        if (wsUrl == null) {
            p.destroyForcibly();
            throw new IllegalStateException("chromium did not start:\n" + log);
        }
        Thread drain = new Thread(() -> {
            try {
                while (out.readLine() != null) {
                    // keep the pipe empty
                }
            } catch (IOException ignored) {
                // the browser went away
            }
        }, "chromium-output");
        drain.setDaemon(true);
        drain.start();
        URI browser = URI.create(wsUrl);
        HttpClient http = HttpClient.newHttpClient();
        String pageWs = null;
        for (int attempt = 0; attempt < 50 && pageWs == null; attempt++) {
            HttpResponse<String> list = http.send(HttpRequest.newBuilder(
                    URI.create("http://" + browser.getHost() + ":" + browser.getPort() + "/json/list")).build(),
                    HttpResponse.BodyHandlers.ofString());
            for (JsonNode t : JSON.readTree(list.body())) {
                if (t.path("type").asText().equals("page")) {
                    pageWs = t.path("webSocketDebuggerUrl").asText();
                    break;
                }
            }
            if (pageWs == null) {
                Thread.sleep(100);
            }
        }
        if (pageWs == null) {
            p.destroyForcibly();
            throw new IllegalStateException("chromium has no page target");
        }
        Chromium[] self = new Chromium[1];
        WebSocket ws = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10))
                .buildAsync(URI.create(pageWs), new WebSocket.Listener() {
                    private final StringBuilder buf = new StringBuilder();

                    @Override
                    public CompletionStage<?> onText(WebSocket socket, CharSequence data, boolean last) {
                        buf.append(data);
                        if (last) {
                            String msg = buf.toString();
                            buf.setLength(0);
                            self[0].onMessage(msg);
                        }
                        socket.request(1);
                        return null;
                    }
                }).get(10, TimeUnit.SECONDS);
        Chromium c = new Chromium(p, profile, ws);
        self[0] = c;
        c.send("Page.enable", Map.of());
        c.send("Runtime.enable", Map.of());
        c.send("Log.enable", Map.of());
        // a headless page never has focus; the clipboard API needs it
        c.send("Emulation.setFocusEmulationEnabled", Map.of("enabled", true));
        // runs before any page script, outside the page's CSP: collects CSP violations
        c.send("Page.addScriptToEvaluateOnNewDocument", Map.of("source",
                "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) {"
                        + " window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });"));
        return c;
    }

    private void onMessage(String msg) {
        try {
            JsonNode m = JSON.readTree(msg);
            if (m.has("id")) {
                CompletableFuture<JsonNode> f = pending.remove(m.get("id").asInt());
                if (f != null) {
                    if (m.has("error")) {
                        f.completeExceptionally(new IllegalStateException("CDP error: " + m.get("error")));
                    } else {
                        f.complete(m.path("result"));
                    }
                }
                return;
            }
            String method = m.path("method").asText();
            JsonNode params = m.path("params");
            switch (method) {
                case "Page.loadEventFired" -> load.countDown();
                case "Page.javascriptDialogOpening" -> {
                    dialogs.add(params.path("type").asText() + ": " + params.path("message").asText());
                    sendAsync("Page.handleJavaScriptDialog", Map.of("accept", false));
                }
                case "Runtime.consoleAPICalled" -> console.add("console." + params.path("type").asText() + " "
                        + params.path("args"));
                case "Runtime.exceptionThrown" -> console.add("exception " + params.path("exceptionDetails"));
                case "Log.entryAdded" -> console.add("log " + params.path("entry").path("level").asText() + " "
                        + params.path("entry").path("text").asText());
                default -> {
                }
            }
        } catch (IOException e) {
            console.add("unreadable CDP message: " + e);
        }
    }

    private CompletableFuture<JsonNode> sendAsync(String method, Map<String, ?> params) {
        int id = ids.incrementAndGet();
        CompletableFuture<JsonNode> f = new CompletableFuture<>();
        pending.put(id, f);
        ObjectNode msg = JSON.createObjectNode();
        msg.put("id", id);
        msg.put("method", method);
        msg.set("params", JSON.valueToTree(params));
        synchronized (ws) {
            ws.sendText(msg.toString(), true).join();
        }
        return f;
    }

    JsonNode send(String method, Map<String, ?> params) throws Exception {
        return sendAsync(method, params).get(30, TimeUnit.SECONDS);
    }

    /** Runs {@code action} (which starts a navigation) and waits for the new page's load event. */
    void awaitLoad(ThrowingRunnable action) throws Exception {
        CountDownLatch l = new CountDownLatch(1);
        load = l;
        action.run();
        if (!l.await(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("page did not load");
        }
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    void navigate(String url) throws Exception {
        awaitLoad(() -> {
            JsonNode r = send("Page.navigate", Map.of("url", url));
            if (r.hasNonNull("errorText")) {
                throw new IllegalStateException("navigation to " + url + " failed: " + r.get("errorText"));
            }
        });
    }

    /** Evaluates a JavaScript expression in the page and returns its value (promises awaited). */
    JsonNode eval(String expression) throws Exception {
        JsonNode r = send("Runtime.evaluate", Map.of("expression", expression, "returnByValue", true,
                "awaitPromise", true, "userGesture", true));
        if (r.has("exceptionDetails")) {
            throw new IllegalStateException("script failed: " + r.get("exceptionDetails"));
        }
        return r.path("result").path("value");
    }

    String text(String expression) throws Exception {
        return eval(expression).asText();
    }

    /** Waits until the expression is true. */
    void waitFor(String expression) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!eval(expression).asBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("timed out waiting for " + expression);
            }
            Thread.sleep(50);
        }
    }

    void viewport(int width, int height, boolean mobile) throws Exception {
        send("Emulation.setDeviceMetricsOverride", Map.of("width", width, "height", height,
                "deviceScaleFactor", 1, "mobile", mobile));
    }

    /** A PNG of the whole page (not only the viewport). */
    void screenshot(Path file) throws Exception {
        JsonNode metrics = send("Page.getLayoutMetrics", Map.of());
        JsonNode size = metrics.path("cssContentSize");
        double width = metrics.path("cssLayoutViewport").path("clientWidth").asDouble();
        double height = Math.min(size.path("height").asDouble(), 6000);
        JsonNode shot = send("Page.captureScreenshot", Map.of("format", "png", "captureBeyondViewport", true,
                "clip", Map.of("x", 0, "y", 0, "width", width, "height", height, "scale", 1)));
        Files.createDirectories(file.getParent());
        Files.write(file, Base64.getDecoder().decode(shot.path("data").asText()));
    }

    List<String> dialogs() {
        synchronized (dialogs) {
            return List.copyOf(dialogs);
        }
    }

    List<String> console() {
        synchronized (console) {
            return List.copyOf(console);
        }
    }

    static void poll(BooleanSupplier condition) throws InterruptedException {
        for (int i = 0; i < 100 && !condition.getAsBoolean(); i++) {
            Thread.sleep(20);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            sendAsync("Browser.close", Map.of());
        } catch (RuntimeException ignored) {
            // already gone
        }
        ws.abort();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try (var files = Files.walk(profile)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }
}
