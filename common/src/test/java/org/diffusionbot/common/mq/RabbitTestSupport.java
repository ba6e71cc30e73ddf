package org.diffusionbot.common.mq;

import com.rabbitmq.client.Connection;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.common.config.RabbitSettings;

/**
 * Connects tests to the real RabbitMQ server ({@code RABBITMQ_URL}, default the local one with
 * guest/guest). Shared with the other modules' tests through common's test-jar.
 */
public final class RabbitTestSupport {
    private RabbitTestSupport() {
    }

    public static RabbitSettings settings() {
        return RabbitSettings.fromEnv(Env.system());
    }

    public static Connection connect(String name) throws Exception {
        return settings().connectionFactory(name).newConnection(name);
    }
}
