package org.diffusionbot.bot.web;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

/**
 * The bot's HTTP server (JDK built-in): {@code /healthz} for container health checks, and the
 * place the community gallery is served from.
 */
public final class WebServer implements AutoCloseable {
    private final HttpServer server;

    public WebServer(String bind, int port, BooleanSupplier healthy) throws IOException {
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
