package org.diffusionbot.bot.web;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.diffusionbot.common.metrics.Metrics;
import org.diffusionbot.db.GalleryStore;

/**
 * The bot's HTTP server (JDK built-in): {@code /healthz} for container health checks, {@code /metrics} for
 * Prometheus, and the
 * community gallery ({@link GalleryHandler}: pages, image bytes, JSON API) on every other path.
 */
public final class WebServer implements AutoCloseable {
    static {
        // The JDK server writes a response's headers and body in separate TCP segments; with Nagle's
        // algorithm on, the body waits for the client's delayed ACK (~40 ms on Linux) on every response.
        // Read once, when the JDK creates its first HttpServer; an explicit -D setting wins.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    private final HttpServer server;

    /** Health checks and, when {@code gallery} is not null, the community gallery. */
    public WebServer(String bind, int port, BooleanSupplier healthy, GalleryStore gallery) throws IOException {
        this(bind, port, healthy, gallery, null);
    }

    /** As above, with Prometheus' {@code /metrics} when {@code metrics} is not null. */
    public WebServer(String bind, int port, BooleanSupplier healthy, GalleryStore gallery,
            PrometheusMeterRegistry metrics) throws IOException {
        server = HttpServer.create(new InetSocketAddress(bind, port), 64);
        server.setExecutor(Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "web");
            t.setDaemon(true);
            return t;
        }));
        server.createContext("/healthz", ex -> {
            boolean ok = healthy.getAsBoolean();
            send(ex, ok ? 200 : 503, ok ? "ok\n" : "unhealthy\n");
        });
        if (metrics != null) {
            server.createContext("/metrics", Metrics.handler(metrics));
        }
        if (gallery != null) {
            server.createContext("/", new GalleryHandler(gallery));
        }
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    static void send(HttpExchange ex, int status, String text) throws IOException {
        byte[] body = text.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
        ex.sendResponseHeaders(status, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }
}
