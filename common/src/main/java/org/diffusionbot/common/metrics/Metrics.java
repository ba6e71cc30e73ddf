package org.diffusionbot.common.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

/**
 * Prometheus metrics of a process (Micrometer's Prometheus registry): the registry every meter goes
 * to, and {@code /metrics} in Prometheus' text exposition format 0.0.4, served by the bot's web server
 * or by {@link #serve} on a worker's {@code METRICS_PORT}.
 *
 * <p>Names follow Prometheus' conventions through Micrometer's naming: meter {@code diffusionbot.jobs.submitted}
 * with base unit seconds becomes {@code diffusionbot_jobs_submitted_seconds}, counters end in {@code _total}.
 * Labels never carry user ids or prompts (bounded cardinality: model, state, outcome, kind).
 */
public final class Metrics {
    /** The content type of Prometheus' text format, version 0.0.4. */
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private Metrics() {
    }

    /** A new registry with the JVM's meters (memory, GC, threads, classes, CPU, uptime). */
    public static PrometheusMeterRegistry registry() {
        PrometheusMeterRegistry r = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(r);
        new JvmGcMetrics().bindTo(r);
        new JvmThreadMetrics().bindTo(r);
        new ClassLoaderMetrics().bindTo(r);
        new ProcessorMetrics().bindTo(r);
        new UptimeMetrics().bindTo(r);
        return r;
    }

    /** GET (or HEAD): the registry's current values; 405 for other methods. */
    public static HttpHandler handler(PrometheusMeterRegistry registry) {
        return ex -> {
            try (ex) {
                String method = ex.getRequestMethod();
                if (!method.equals("GET") && !method.equals("HEAD")) {
                    ex.getResponseHeaders().set("Allow", "GET, HEAD");
                    ex.sendResponseHeaders(405, -1);
                    return;
                }
                byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
                ex.getResponseHeaders().set("Content-Type", CONTENT_TYPE);
                ex.getResponseHeaders().set("Cache-Control", "no-store");
                send(ex, method.equals("HEAD") ? null : body, body.length);
            }
        };
    }

    private static void send(HttpExchange ex, byte[] body, int length) throws IOException {
        ex.sendResponseHeaders(200, body == null ? -1 : length);
        if (body != null) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }

    /**
     * A small HTTP server (the JDK's) answering {@code /metrics} on {@code bind:port} (port 0: any free
     * one, see {@code getAddress()}); stop it with {@code stop(0)}.
     *
     * @throws IOException when the port cannot be bound (in use, not permitted)
     */
    public static HttpServer serve(PrometheusMeterRegistry registry, String bind, int port) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(bind, port), 16);
        server.setExecutor(Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "metrics-http");
            t.setDaemon(true);
            return t;
        }));
        server.createContext("/metrics", handler(registry));
        server.start();
        return server;
    }
}
