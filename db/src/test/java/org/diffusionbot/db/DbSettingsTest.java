package org.diffusionbot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.junit.jupiter.api.Test;

class DbSettingsTest {
    @Test
    void defaultsPointAtTheLocalServer() {
        DbSettings s = DbSettings.fromEnv(Env.of(Map.of()));
        assertEquals(DbSettings.DEFAULT_URL, s.url());
        assertEquals("postgres", s.user());
        assertEquals(10, s.poolSize());
    }

    @Test
    void aNonPostgresUrlIsRefusedWithAHint() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> DbSettings.fromEnv(Env.of(Map.of("DATABASE_URL", "mysql://x"))));
        assertTrue(e.getMessage().startsWith("DATABASE_URL must start with jdbc:postgresql://"), e.getMessage());
    }

    @Test
    void passwordIsNotPrinted() {
        DbSettings s = DbSettings.fromEnv(Env.of(Map.of("DATABASE_PASSWORD", "hunter2")));
        assertTrue(!s.toString().contains("hunter2"));
    }
}
