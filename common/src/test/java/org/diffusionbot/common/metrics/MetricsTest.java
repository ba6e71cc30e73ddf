package org.diffusionbot.common.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

class MetricsTest {
    private final HttpClient http = HttpClient.newHttpClient();

    @Test
    void servesTheRegistryInPrometheusTextFormat() throws Exception {
        PrometheusMeterRegistry registry = Metrics.registry();
        registry.counter("diffusionbot.test.things", "model", "sd15").increment(3);
        HttpServer server = Metrics.serve(registry, "127.0.0.1", 0);
        try {
            URI uri = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/metrics");
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            assertEquals(Metrics.CONTENT_TYPE, r.headers().firstValue("Content-Type").orElseThrow());
            assertTrue(r.body().contains("diffusionbot_test_things_total{model=\"sd15\"} 3.0"), r.body());
            assertTrue(r.body().contains("# TYPE jvm_memory_used_bytes gauge"), "JVM meters bound");

            HttpResponse<String> post = http.send(HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString("x"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, post.statusCode());
            HttpResponse<String> other = http.send(HttpRequest.newBuilder(uri.resolve("/other")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(404, other.statusCode());
        } finally {
            server.stop(0);
        }
    }

    @Test
    void aPortInUseFailsAtOnce() throws Exception {
        HttpServer first = Metrics.serve(Metrics.registry(), "127.0.0.1", 0);
        try {
            int port = first.getAddress().getPort();
            assertThrows(java.net.BindException.class, () -> Metrics.serve(Metrics.registry(), "127.0.0.1", port));
        } finally {
            first.stop(0);
        }
    }
}
