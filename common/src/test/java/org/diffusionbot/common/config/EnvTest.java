package org.diffusionbot.common.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EnvTest {
    @Test
    void defaultsApplyWhenUnsetOrBlank() {
        Env env = Env.of(Map.of("BLANK", "  "));
        assertEquals(7, env.integer("MISSING", 7, 1, 10));
        assertEquals(7, env.integer("BLANK", 7, 1, 10));
        assertTrue(env.bool("MISSING", true));
        assertEquals("x", env.string("BLANK", "x"));
    }

    @Test
    void malformedValuesNameTheVariableInOneLine() {
        Env env = Env.of(Map.of("N", "12x", "B", "maybe", "R", "http://x", "S", "-1", "C", "tpu"));
        assertMessage(() -> env.integer("N", 1, 1, 10), "N must be a whole number between 1 and 10 (got '12x')");
        assertMessage(() -> env.bool("B", true), "B must be true or false (got 'maybe')");
        assertMessage(() -> env.uri("R", null, "amqp", "amqps"), "R is not a valid amqp/amqps URL");
        assertMessage(() -> env.seconds("S", Duration.ZERO, Duration.ZERO, Duration.ofSeconds(5)), "S must be a number of seconds");
        assertMessage(() -> env.choice("C", "auto", "auto", "cpu", "gpu"), "C must be one of auto, cpu, gpu (got 'tpu')");
        assertMessage(() -> env.required("TOKEN", "create a bot at https://discord.com/developers"),
                "TOKEN is not set: create a bot");
    }

    @Test
    void outOfRangeNumbersAreRefused() {
        assertThrows(ConfigException.class, () -> Env.of(Map.of("N", "11")).integer("N", 1, 1, 10));
        assertEquals(10, Env.of(Map.of("N", "10")).integer("N", 1, 1, 10));
    }

    @Test
    void passwordsNeverAppearInErrorsOrToString() {
        Env env = Env.of(Map.of("RABBITMQ_URL", "amqp://bot:s3cret@rabbit:5672/"));
        RabbitSettings s = RabbitSettings.fromEnv(env);
        assertFalse(s.toString().contains("s3cret"), s.toString());
        ConfigException e = assertThrows(ConfigException.class,
                () -> RabbitSettings.fromEnv(Env.of(Map.of("RABBITMQ_URL", "http://bot:s3cret@rabbit/"))));
        assertFalse(e.getMessage().contains("s3cret"), e.getMessage());
    }

    private static void assertMessage(Runnable r, String prefix) {
        ConfigException e = assertThrows(ConfigException.class, r::run);
        assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }
}
