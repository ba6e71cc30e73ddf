package org.diffusionbot.bot.discord;

import java.util.Arrays;
import java.util.List;
import net.dv8tion.jda.api.interactions.commands.OptionType;
import net.dv8tion.jda.api.interactions.commands.build.CommandData;
import net.dv8tion.jda.api.interactions.commands.build.OptionData;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;

/** The slash commands the bot registers. */
public final class Commands {
    public static final String IMAGINE = "imagine";
    public static final String JOBS = "jobs";
    public static final String QUOTA = "quota";
    public static final String CANCEL = "cancel";

    private Commands() {
    }

    public static List<CommandData> all() {
        OptionData sampler = new OptionData(OptionType.STRING, "sampler", "Sampler (scheduler)");
        Arrays.stream(Sampler.values()).forEach(s -> sampler.addChoice(s.displayName(), s.id()));
        OptionData size = new OptionData(OptionType.STRING, "size", "Image size, width x height");
        Arrays.stream(ImagineOptions.SIZES).forEach(s -> size.addChoice(s, s));
        return List.of(
                net.dv8tion.jda.api.interactions.commands.build.Commands.slash(IMAGINE, "Generate images from a prompt")
                        .addOptions(
                                new OptionData(OptionType.STRING, "prompt", "What to draw", true)
                                        .setMaxLength(GenerationLimits.MAX_PROMPT_CHARS),
                                new OptionData(OptionType.STRING, "negative", "What to avoid")
                                        .setMaxLength(GenerationLimits.MAX_PROMPT_CHARS),
                                new OptionData(OptionType.INTEGER, "steps", "Denoising steps (default "
                                        + GenerationLimits.DEFAULT_STEPS + ")")
                                        .setRequiredRange(GenerationLimits.MIN_STEPS, GenerationLimits.MAX_STEPS),
                                new OptionData(OptionType.NUMBER, "cfg", "Guidance scale (default "
                                        + GenerationLimits.DEFAULT_CFG + ")")
                                        .setRequiredRange(GenerationLimits.MIN_CFG, GenerationLimits.MAX_CFG),
                                new OptionData(OptionType.INTEGER, "seed", "Seed (random when empty)")
                                        .setRequiredRange(0, GenerationLimits.MAX_SEED),
                                size,
                                new OptionData(OptionType.INTEGER, "width", "Width in pixels (overrides size)")
                                        .setRequiredRange(GenerationLimits.MIN_SIZE, GenerationLimits.MAX_SIZE),
                                new OptionData(OptionType.INTEGER, "height", "Height in pixels (overrides size)")
                                        .setRequiredRange(GenerationLimits.MIN_SIZE, GenerationLimits.MAX_SIZE),
                                sampler,
                                new OptionData(OptionType.INTEGER, "count", "Images to make (1-4)")
                                        .setRequiredRange(GenerationLimits.MIN_COUNT, GenerationLimits.MAX_COUNT),
                                new OptionData(OptionType.STRING, "model", "Model name").setMaxLength(100)),
                net.dv8tion.jda.api.interactions.commands.build.Commands.slash(JOBS, "Your recent jobs"),
                net.dv8tion.jda.api.interactions.commands.build.Commands.slash(QUOTA, "What is left of your allowance"),
                net.dv8tion.jda.api.interactions.commands.build.Commands.slash(CANCEL, "Cancel a queued or running job")
                        .addOption(OptionType.STRING, "job", "Job id (default: your latest active job)"));
    }
}
