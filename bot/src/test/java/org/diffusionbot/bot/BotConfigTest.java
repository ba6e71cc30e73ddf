package org.diffusionbot.bot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.junit.jupiter.api.Test;

class BotConfigTest {

    @Test
    void resultsQueueDefaultsToTheSharedOneAndTakesADeploymentName() {
        assertEquals("sd.results", BotConfig.fromEnv(Env.of(Map.of("DISCORD_TOKEN", "t"))).resultsQueue());
        assertEquals("sd.results.guild-a",
                BotConfig.fromEnv(Env.of(Map.of("DISCORD_TOKEN", "t", "RESULTS_QUEUE", "sd.results.guild-a"))).resultsQueue());
    }

    @Test
    void aResultsQueueThatIsNotOneIsRefusedWithTheVariableNamed() {
        for (String bad : new String[] {"results", "sd.jobs.sd15", "sd.results.a b", "sd.results."}) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> BotConfig.fromEnv(Env.of(Map.of("DISCORD_TOKEN", "t", "RESULTS_QUEUE", bad))));
            assertTrue(e.getMessage().startsWith("RESULTS_QUEUE must be"), e.getMessage());
        }
    }
}
