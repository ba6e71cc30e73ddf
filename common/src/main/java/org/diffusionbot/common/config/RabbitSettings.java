package org.diffusionbot.common.config;

import com.rabbitmq.client.ConnectionFactory;
import java.net.URI;
import java.time.Duration;

/**
 * How to reach RabbitMQ; shared by bot and worker.
 *
 * @param uri                 {@code RABBITMQ_URL}, an amqp:// or amqps:// URL with credentials and vhost
 * @param deliveryLimit       {@code JOB_DELIVERY_LIMIT}: deliveries of one job before it is dead-lettered
 * @param heartbeatSeconds    {@code RABBITMQ_HEARTBEAT_SECONDS}: AMQP heartbeat; a process frozen for about
 *                            twice this long loses its connection and its unacknowledged jobs go back to the queue
 */
public record RabbitSettings(URI uri, int deliveryLimit, int heartbeatSeconds) {
    public static final String DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F";

    public static RabbitSettings fromEnv(Env env) {
        return new RabbitSettings(
                env.uri("RABBITMQ_URL", DEFAULT_URL, "amqp", "amqps"),
                env.integer("JOB_DELIVERY_LIMIT", 3, 1, 100),
                env.integer("RABBITMQ_HEARTBEAT_SECONDS", 15, 1, 600));
    }

    /** A connection factory with automatic recovery (topology is replayed on reconnect). */
    public ConnectionFactory connectionFactory(String connectionName) {
        ConnectionFactory f = new ConnectionFactory();
        try {
            f.setUri(uri);
        } catch (Exception e) {
            throw new ConfigException("RABBITMQ_URL is not usable (" + e.getMessage() + ")");
        }
        f.setAutomaticRecoveryEnabled(true);
        f.setTopologyRecoveryEnabled(true);
        f.setNetworkRecoveryInterval(Duration.ofSeconds(2).toMillis());
        f.setRequestedHeartbeat(heartbeatSeconds);
        f.setConnectionTimeout((int) Duration.ofSeconds(10).toMillis());
        f.setClientProperties(new java.util.HashMap<>(f.getClientProperties()));
        f.getClientProperties().put("connection_name", connectionName);
        return f;
    }

    @Override
    public String toString() {
        return "RabbitSettings[" + Env.redact(uri.toString()) + ", deliveryLimit=" + deliveryLimit + ", heartbeat="
                + heartbeatSeconds + "s]";
    }
}
