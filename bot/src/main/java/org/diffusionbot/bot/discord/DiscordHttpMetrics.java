package org.diffusionbot.bot.discord;

import java.io.IOException;
import java.time.Duration;
import okhttp3.Interceptor;
import okhttp3.Response;
import org.diffusionbot.bot.metrics.BotMetrics;

/**
 * Times every Discord REST call JDA makes (an OkHttp interceptor on JDA's HTTP client) into
 * {@link BotMetrics#discordRequest}: by HTTP method and status class ({@code 2xx}, {@code 3xx}, {@code 4xx},
 * {@code 429} for rate limits, {@code 5xx}, {@code error} when no response came). Paths are not labels:
 * they carry ids and interaction tokens.
 */
public final class DiscordHttpMetrics implements Interceptor {
    private final BotMetrics metrics;

    public DiscordHttpMetrics(BotMetrics metrics) {
        this.metrics = metrics;
    }

    @Override
    public Response intercept(Chain chain) throws IOException {
        long t0 = System.nanoTime();
        String method = chain.request().method();
        try {
            Response r = chain.proceed(chain.request());
            metrics.discordRequest(method, statusClass(r.code()), Duration.ofNanos(System.nanoTime() - t0));
            return r;
        } catch (IOException | RuntimeException e) {
            metrics.discordRequest(method, "error", Duration.ofNanos(System.nanoTime() - t0));
            throw e;
        }
    }

    static String statusClass(int code) {
        return code == 429 ? "429" : (code / 100) + "xx";
    }
}
