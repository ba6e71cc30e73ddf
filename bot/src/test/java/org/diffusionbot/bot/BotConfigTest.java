package org.diffusionbot.bot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.diffusionbot.bot.service.QuotaWeights;
import org.diffusionbot.common.ModelFamily;
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

    @Test
    void quotaWeightsDefaultToOneEachAndNameTheFamily() {
        QuotaWeights none = BotConfig.fromEnv(Env.of(Map.of("DISCORD_TOKEN", "t"))).quotaWeights();
        assertEquals(1, none.weight(ModelFamily.SDXL));
        QuotaWeights w = BotConfig.fromEnv(Env.of(Map.of("DISCORD_TOKEN", "t", "QUOTA_WEIGHTS", " sdxl=3, SD2=2")))
                .quotaWeights();
        assertEquals(List.of(1, 2, 3), List.of(w.weight(ModelFamily.SD1), w.weight(ModelFamily.SD2),
                w.weight(ModelFamily.SDXL)));
        assertEquals(8, w.charge(ModelFamily.SD2, 4));
        for (String bad : new String[] {"sdxl", "sdxl=0", "sdxl=two", "flux=2", "sdxl=2,sdxl=3", "sdxl=101"}) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> BotConfig.fromEnv(Env.of(Map.of("DISCORD_TOKEN", "t", "QUOTA_WEIGHTS", bad))));
            assertTrue(e.getMessage().startsWith("QUOTA_WEIGHTS must be family=weight pairs"), e.getMessage());
        }
    }
}
