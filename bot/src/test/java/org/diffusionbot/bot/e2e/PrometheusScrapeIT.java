package org.diffusionbot.bot.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.File;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.diffusionbot.bot.fakediscord.FakeUser;
import org.diffusionbot.bot.fakediscord.InteractionHandle;
import org.diffusionbot.bot.fakediscord.Opt;
import org.diffusionbot.common.metrics.Metrics;
import org.diffusionbot.worker.runtime.SyntheticGenerator;
import org.diffusionbot.worker.runtime.WorkerMetrics;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A real Prometheus (Debian's {@code prometheus}, which {@code .ci/run} installs) scrapes the bot's
 * {@code /metrics} and a worker's {@code METRICS_PORT} endpoint every second while jobs run end to end
 * (fake Discord, real JDA, PostgreSQL, RabbitMQ): the series exist and move, the alert rules of
 * {@code deploy/prometheus/alerts.yml} load, and every query of the Grafana dashboard is valid PromQL
 * over series that exist.
 */
class PrometheusScrapeIT {
    static final Duration WAIT = Duration.ofSeconds(60);
    static final Path PROMETHEUS = Path.of("/usr/bin/prometheus");
    static final Path DEPLOY = Path.of("..", "deploy");
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();
    static BotHarness h;
    static HttpServer workerMetrics;
    static Process prometheus;
    static Path dataDir;
    static String api;

    @BeforeAll
    static void start() throws Exception {
        assertTrue(Files.isExecutable(PROMETHEUS), PROMETHEUS + " is missing: apt-get install prometheus (.ci/run does)");
        h = new BotHarness(1000, 10);
        PrometheusMeterRegistry registry = Metrics.registry();
        h.startWorker("scraped-worker", new SyntheticGenerator(5_000_000), 4, new WorkerMetrics(registry));
        workerMetrics = Metrics.serve(registry, "127.0.0.1", 0);

        dataDir = Files.createTempDirectory("prometheus-it");
        Files.copy(DEPLOY.resolve("prometheus/alerts.yml"), dataDir.resolve("alerts.yml"));
        Files.writeString(dataDir.resolve("prometheus.yml"), """
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                rule_files: [alerts.yml]
                scrape_configs:
                  - job_name: diffusion-bot
                    static_configs: [{targets: ["127.0.0.1:%d"]}]
                  - job_name: diffusion-bot-workers
                    static_configs: [{targets: ["127.0.0.1:%d"]}]
                """.formatted(h.bot.web().port(), workerMetrics.getAddress().getPort()));
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        api = "http://127.0.0.1:" + port;
        prometheus = new ProcessBuilder(PROMETHEUS.toString(), "--config.file=" + dataDir.resolve("prometheus.yml"),
                "--storage.tsdb.path=" + dataDir.resolve("data"), "--web.listen-address=127.0.0.1:" + port)
                .redirectErrorStream(true).redirectOutput(dataDir.resolve("prometheus.log").toFile()).start();
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!ready()) {
            assertTrue(prometheus.isAlive() && System.nanoTime() < deadline,
                    "prometheus did not start: " + Files.readString(dataDir.resolve("prometheus.log")));
            Thread.sleep(200);
        }
    }

    private static boolean ready() {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create(api + "/-/ready")).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (Exception e) {
            return false;
        }
    }

    @AfterAll
    static void stop() throws Exception {
        if (prometheus != null) {
            prometheus.destroy();
            prometheus.waitFor();
        }
        if (workerMetrics != null) {
            workerMetrics.stop(0);
        }
        if (h != null) {
            h.close();
        }
        if (dataDir != null) {
            try (var files = Files.walk(dataDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
            }
        }
    }

    static JsonNode get(String path) throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(api + path)).build(),
                HttpResponse.BodyHandlers.ofString());
        JsonNode body = JSON.readTree(r.body());
        assertEquals("success", body.path("status").asText(), path + " -> " + r.body());
        return body.path("data");
    }

    /** The value of an instant query that returns one number (NaN when it returns nothing). */
    static double value(String promql) throws Exception {
        JsonNode result = get("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8)).path("result");
        return result.isEmpty() ? Double.NaN : result.get(0).path("value").get(1).asDouble();
    }

    /** Waits until the query's value is above {@code floor}; returns it. */
    static double awaitAbove(String promql, double floor) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        double v = Double.NaN;
        while (System.nanoTime() < deadline) {
            v = value(promql);
            if (v > floor) {
                return v;
            }
            Thread.sleep(250);
        }
        throw new AssertionError(promql + " stayed at " + v + " (not above " + floor + ")");
    }

    private static void runJobs(FakeUser user, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            InteractionHandle job = h.discord.slashCommand("imagine", user, Opt.string("prompt", "scraped " + i),
                    Opt.integer("steps", 10));
            job.awaitOriginalEdit(m -> m.attachments().size() == 1, WAIT);
        }
    }

    @Test
    void botAndWorkerSeriesExistAndMoveAndTheDashboardAndAlertsReadThem() throws Exception {
        FakeUser user = h.discord.createUser("scraper");
        runJobs(user, 2);
        String model = "{model=\"" + h.model + "\"}";
        double submitted = awaitAbove("sum(diffusionbot_jobs_submitted_total" + model + ")", 1);
        double steps = awaitAbove("sum(diffusionbot_worker_steps_total" + model + ")", 10);
        double images = awaitAbove("sum(diffusionbot_worker_images_total" + model + ")", 1);
        double succeeded = awaitAbove("sum(diffusionbot_jobs_finished_total{outcome=\"succeeded\"})", 1);
        awaitAbove("sum(diffusionbot_job_run_seconds_count" + model + ")", 1);
        awaitAbove("sum(diffusionbot_discord_requests_seconds_count{status=\"2xx\"})", 1);
        awaitAbove("diffusionbot_discord_deferral_seconds_count", 1);
        awaitAbove("sum(diffusionbot_queue_consumers" + model + ")", 0); // the worker consumes the model's queue
        awaitAbove("sum(diffusionbot_workers{state=~\"idle|busy\"})", 0);

        runJobs(user, 3); // the series move
        awaitAbove("sum(diffusionbot_jobs_submitted_total" + model + ")", submitted + 2);
        awaitAbove("sum(diffusionbot_worker_steps_total" + model + ")", steps + 29);
        awaitAbove("sum(diffusionbot_worker_images_total" + model + ")", images + 2);
        awaitAbove("sum(diffusionbot_jobs_finished_total{outcome=\"succeeded\"})", succeeded + 2);

        Set<String> names = new TreeSet<>();
        get("/api/v1/label/__name__/values").forEach(n -> names.add(n.asText()));
        // the dashboard: each query valid, over series the bot and the worker export (GPU memory needs a GPU)
        JsonNode dashboard = JSON.readTree(DEPLOY.resolve("grafana/diffusion-bot.json").toFile());
        int queries = 0;
        for (JsonNode panel : dashboard.path("panels")) {
            for (JsonNode target : panel.path("targets")) {
                String expr = target.path("expr").asText();
                get("/api/v1/query?query=" + URLEncoder.encode(expr, StandardCharsets.UTF_8));
                assertSeriesExist(expr, names, panel.path("title").asText());
                queries++;
            }
        }
        assertTrue(queries >= 15, "dashboard queries: " + queries);
        // the alert rules: loaded and evaluated without error, over series that exist
        int rules = 0;
        for (JsonNode group : get("/api/v1/rules").path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                assertEquals("ok", rule.path("health").asText(), rule.toString());
                assertSeriesExist(rule.path("query").asText(), names, rule.path("name").asText());
                rules++;
            }
        }
        assertTrue(rules >= 3, "rules: " + rules);
    }

    private static void assertSeriesExist(String expr, Set<String> names, String where) {
        Matcher m = Pattern.compile("diffusionbot_[a-z_]+").matcher(expr);
        while (m.find()) {
            String name = m.group();
            if (name.startsWith("diffusionbot_worker_gpu_memory")) {
                continue; // only on a GPU with the native library
            }
            assertTrue(names.contains(name), where + ": no series " + name + " in " + names);
        }
    }
}
