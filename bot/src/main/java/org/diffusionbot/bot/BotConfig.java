package org.diffusionbot.bot;

import java.net.URI;
import org.diffusionbot.bot.service.QuotaWeights;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.common.config.RabbitSettings;
import org.diffusionbot.db.DbSettings;

/**
 * Everything the bot reads from the environment, validated once at start-up (the README's
 * configuration table documents each variable).
 */
public record BotConfig(
        String discordToken,
        URI discordApiBaseUrl,
        URI discordGatewayUrl,
        DbSettings db,
        RabbitSettings rabbit,
        String defaultModel,
        int dailyImageLimit,
        int maxActiveJobs,
        int previewEvery,
        String galleryBind,
        int galleryPort,
        java.util.Set<Long> adminRoleIds,
        int heartbeatSeconds,
        String resultsQueue,
        QuotaWeights quotaWeights) {

    public BotConfig {
        adminRoleIds = java.util.Set.copyOf(adminRoleIds);
        java.util.Objects.requireNonNull(quotaWeights, "quotaWeights");
        org.diffusionbot.common.mq.Topology.checkResultsQueue(resultsQueue);
        if (heartbeatSeconds < 1) {
            throw new IllegalArgumentException("heartbeatSeconds must be >= 1");
        }
    }

    /** Without admin roles, with the default heartbeat interval (5 s) and results queue (sd.results). */
    public BotConfig(String discordToken, URI discordApiBaseUrl, URI discordGatewayUrl, DbSettings db,
            RabbitSettings rabbit, String defaultModel, int dailyImageLimit, int maxActiveJobs, int previewEvery,
            String galleryBind, int galleryPort) {
        this(discordToken, discordApiBaseUrl, discordGatewayUrl, db, rabbit, defaultModel, dailyImageLimit,
                maxActiveJobs, previewEvery, galleryBind, galleryPort, java.util.Set.of(), 5,
                org.diffusionbot.common.mq.Topology.RESULTS_QUEUE, QuotaWeights.NONE);
    }

    /** A copy with other admin roles and heartbeat interval. */
    public BotConfig withAdmin(java.util.Set<Long> roleIds, int heartbeatSecs) {
        return new BotConfig(discordToken, discordApiBaseUrl, discordGatewayUrl, db, rabbit, defaultModel,
                dailyImageLimit, maxActiveJobs, previewEvery, galleryBind, galleryPort, roleIds, heartbeatSecs,
                resultsQueue, quotaWeights);
    }

    /** A copy whose workers send outcomes to another results queue. */
    public BotConfig withResultsQueue(String queue) {
        return new BotConfig(discordToken, discordApiBaseUrl, discordGatewayUrl, db, rabbit, defaultModel,
                dailyImageLimit, maxActiveJobs, previewEvery, galleryBind, galleryPort, adminRoleIds, heartbeatSeconds,
                queue, quotaWeights);
    }

    /** A copy with other quota weights per model family. */
    public BotConfig withQuotaWeights(QuotaWeights weights) {
        return new BotConfig(discordToken, discordApiBaseUrl, discordGatewayUrl, db, rabbit, defaultModel,
                dailyImageLimit, maxActiveJobs, previewEvery, galleryBind, galleryPort, adminRoleIds, heartbeatSeconds,
                resultsQueue, weights);
    }

    public static BotConfig fromEnv(Env env) {
        return new BotConfig(
                env.required("DISCORD_TOKEN", "create a bot at https://discord.com/developers/applications, copy its"
                        + " token and set DISCORD_TOKEN (e.g. in .env)"),
                env.uri("DISCORD_API_BASE_URL", "https://discord.com/api/v10/", "https", "http"),
                env.raw("DISCORD_GATEWAY_URL") == null ? null : env.uri("DISCORD_GATEWAY_URL", null, "wss", "ws"),
                DbSettings.fromEnv(env),
                RabbitSettings.fromEnv(env),
                env.string("DEFAULT_MODEL", "sd15"),
                env.integer("DAILY_IMAGE_LIMIT", 100, 0, 1_000_000),
                env.integer("MAX_ACTIVE_JOBS", 3, 1, 1_000),
                env.integer("PREVIEW_EVERY", 5, 0, 150),
                env.string("GALLERY_BIND", "0.0.0.0"),
                env.integer("GALLERY_PORT", 8080, 0, 65_535),
                roleIds(env),
                env.integer("HEARTBEAT_SECONDS", 5, 1, 300),
                resultsQueue(env),
                quotaWeights(env));
    }

    /** QUOTA_WEIGHTS: images of the allowance one image of a family counts as, e.g. {@code sdxl=2}. */
    static QuotaWeights quotaWeights(Env env) {
        try {
            return QuotaWeights.parse(env.raw("QUOTA_WEIGHTS"));
        } catch (IllegalArgumentException e) {
            throw new org.diffusionbot.common.config.ConfigException("QUOTA_WEIGHTS must be family=weight pairs,"
                    + " comma-separated (families sd1, sd2, sdxl; weights 1-" + QuotaWeights.MAX_WEIGHT
                    + "; e.g. sdxl=2): " + e.getMessage());
        }
    }

    /** RESULTS_QUEUE: sd.results, or sd.results.NAME for one of several bot deployments sharing a vhost. */
    static String resultsQueue(Env env) {
        String q = env.string("RESULTS_QUEUE", org.diffusionbot.common.mq.Topology.RESULTS_QUEUE);
        if (!org.diffusionbot.common.mq.Topology.isResultsQueue(q)) {
            throw new org.diffusionbot.common.config.ConfigException("RESULTS_QUEUE must be sd.results or"
                    + " sd.results.NAME (NAME: 1-64 letters, digits, '_' or '-'; one per bot deployment on a vhost), got '"
                    + q + "'");
        }
        return q;
    }

    /** ADMIN_ROLE_IDS: comma-separated role ids whose members may use /admin besides Manage Server holders. */
    static java.util.Set<Long> roleIds(Env env) {
        String raw = env.raw("ADMIN_ROLE_IDS");
        java.util.Set<Long> ids = new java.util.LinkedHashSet<>();
        if (raw == null || raw.isBlank()) {
            return ids;
        }
        for (String part : raw.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            try {
                long id = Long.parseUnsignedLong(p);
                ids.add(id);
            } catch (NumberFormatException e) {
                throw new org.diffusionbot.common.config.ConfigException("ADMIN_ROLE_IDS must be comma-separated role"
                        + " ids (right-click a role with developer mode on: Copy Role ID), got '" + p + "'");
            }
        }
        return ids;
    }

    @Override
    public String toString() {
        return "BotConfig[api=" + discordApiBaseUrl + (discordGatewayUrl == null ? "" : ", gateway=" + discordGatewayUrl)
                + ", " + db + ", " + rabbit + ", defaultModel=" + defaultModel
                + ", dailyImageLimit=" + dailyImageLimit + ", maxActiveJobs=" + maxActiveJobs + ", gallery="
                + galleryBind + ":" + galleryPort + ", adminRoleIds=" + adminRoleIds + ", heartbeatSeconds="
                + heartbeatSeconds + ", resultsQueue=" + resultsQueue + ", quotaWeights=" + quotaWeights.weights() + "]";
    }
}
