package org.diffusionbot.bot.discord;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import net.dv8tion.jda.api.interactions.commands.Command;
import net.dv8tion.jda.api.interactions.commands.build.CommandData;
import net.dv8tion.jda.api.interactions.commands.build.OptionData;
import net.dv8tion.jda.api.interactions.commands.build.SlashCommandData;
import org.junit.jupiter.api.Test;

/** The sampler and schedule choices of {@code /imagine} and {@code /settings}: A1111's names, our ids. */
class CommandsTest {
    static Map<String, String> choices(String command, String option) {
        for (CommandData c : Commands.all()) {
            if (c.getName().equals(command)) {
                for (OptionData o : ((SlashCommandData) c).getOptions()) {
                    if (o.getName().equals(option)) {
                        Map<String, String> m = new LinkedHashMap<>();
                        for (Command.Choice ch : o.getChoices()) {
                            m.put(ch.getName(), ch.getAsString());
                        }
                        return m;
                    }
                }
            }
        }
        throw new AssertionError("no option " + option + " in /" + command);
    }

    static OptionData option(String command, String option) {
        for (CommandData c : Commands.all()) {
            if (c.getName().equals(command)) {
                for (OptionData o : ((SlashCommandData) c).getOptions()) {
                    if (o.getName().equals(option)) {
                        return o;
                    }
                }
            }
        }
        throw new AssertionError("no option " + option + " in /" + command);
    }

    @Test
    void clipSkipIsAnIntegerOptionOfImagineAndSettingsBoundedByTheLimits() {
        for (String command : new String[] {Commands.IMAGINE, Commands.SETTINGS}) {
            OptionData o = option(command, "clip_skip");
            assertEquals(net.dv8tion.jda.api.interactions.commands.OptionType.INTEGER, o.getType(), command);
            assertEquals(org.diffusionbot.common.GenerationLimits.MIN_CLIP_SKIP, o.getMinValue().intValue(), command);
            assertEquals(org.diffusionbot.common.GenerationLimits.MAX_CLIP_SKIP, o.getMaxValue().intValue(), command);
            assertTrue(o.getDescription().length() <= OptionData.MAX_DESCRIPTION_LENGTH, command);
            assertTrue(((SlashCommandData) Commands.all().stream().filter(c -> c.getName().equals(command))
                    .findFirst().orElseThrow()).getOptions().size() <= 25, "Discord allows 25 options");
        }
    }

    @Test
    void samplerChoicesHaveAutomatic1111Names() {
        for (String command : new String[] {"imagine", "settings"}) {
            Map<String, String> s = choices(command, "sampler");
            assertEquals("dpmpp_2m_sde_karras", s.get("DPM++ 2M SDE Karras"));
            assertEquals("dpmpp_2m_sde", s.get("DPM++ 2M SDE"));
            assertEquals("dpmpp_2m_karras", s.get("DPM++ 2M Karras"));
            assertEquals("lcm", s.get("LCM"));
            assertEquals("heun", s.get("Heun"));
            assertEquals("euler_a", s.get("Euler a"));
            assertEquals("pndm", s.get("PLMS"));
            assertEquals(12, s.size());
            assertTrue(s.size() <= 25, "Discord allows 25 choices");
        }
    }

    @Test
    void scheduleChoicesHaveAutomatic1111Names() {
        for (String command : new String[] {"imagine", "settings"}) {
            assertEquals(Map.of("Automatic", "default", "Karras", "karras", "Exponential", "exponential",
                    "SGM Uniform", "trailing"), choices(command, "schedule"));
        }
    }
}
