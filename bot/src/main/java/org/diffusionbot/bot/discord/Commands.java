package org.diffusionbot.bot.discord;

import java.util.Arrays;
import java.util.List;
import net.dv8tion.jda.api.Permission;
import net.dv8tion.jda.api.interactions.InteractionContextType;
import net.dv8tion.jda.api.interactions.commands.DefaultMemberPermissions;
import net.dv8tion.jda.api.interactions.commands.OptionType;
import net.dv8tion.jda.api.interactions.commands.build.SlashCommandData;
import net.dv8tion.jda.api.interactions.commands.build.SubcommandData;
import net.dv8tion.jda.api.interactions.commands.build.CommandData;
import net.dv8tion.jda.api.interactions.commands.build.OptionData;
import org.diffusionbot.bot.service.ImagineOptions;
import org.diffusionbot.bot.service.LoraService;
import org.diffusionbot.common.AspectRatio;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;

/** The slash commands the bot registers. */
public final class Commands {
    public static final String IMAGINE = "imagine";
    public static final String JOBS = "jobs";
    public static final String QUOTA = "quota";
    public static final String CANCEL = "cancel";
    public static final String MODELS = "models";
    public static final String SETTINGS = "settings";
    public static final String ADMIN = "admin";
    public static final String LORAS = "loras";

    private Commands() {
    }

    public static List<CommandData> all() {
        return all(false);
    }

    /**
     * Every command. {@code /admin} is hidden from members without Manage Server unless admin roles are configured
     * ({@code adminRolesConfigured}: it must stay visible to them); either way the bot checks every call itself.
     */
    public static List<CommandData> all(boolean adminRolesConfigured) {
        OptionData sampler = new OptionData(OptionType.STRING, "sampler", "Sampler (scheduler)");
        Arrays.stream(Sampler.values()).forEach(s -> sampler.addChoice(s.displayName(), s.id()));
        OptionData size = new OptionData(OptionType.STRING, "size", "Image size, width x height");
        Arrays.stream(ImagineOptions.SIZES).forEach(s -> size.addChoice(s, s));
        OptionData ar = new OptionData(OptionType.STRING, "ar",
                "Aspect ratio: the model's own size for it (default: the model's native size)");
        Arrays.stream(AspectRatio.values()).forEach(r -> ar.addChoice(r.id(), r.id()));
        OptionData schedule = scheduleOption("Noise schedule of the sampler (Karras, SGM Uniform for Lightning/Turbo)");
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
                                new OptionData(OptionType.NUMBER, "guidance_rescale",
                                        "CFG rescale φ, 0-1 (default: your /settings, else 0; about 0.7 for v-prediction models)")
                                        .setRequiredRange(GenerationLimits.MIN_GUIDANCE_RESCALE,
                                                GenerationLimits.MAX_GUIDANCE_RESCALE),
                                new OptionData(OptionType.INTEGER, "clip_skip",
                                        "Clip skip as A1111: 1 = CLIP's last layer, 2 = penultimate (default: /settings, else SDXL 2, else 1)")
                                        .setRequiredRange(GenerationLimits.MIN_CLIP_SKIP, GenerationLimits.MAX_CLIP_SKIP),
                                new OptionData(OptionType.INTEGER, "seed", "Seed (random when empty)")
                                        .setRequiredRange(0, GenerationLimits.MAX_SEED),
                                size,
                                ar,
                                new OptionData(OptionType.INTEGER, "width", "Width in pixels (overrides size and ar)")
                                        .setRequiredRange(GenerationLimits.MIN_SIZE, GenerationLimits.MAX_SIZE),
                                new OptionData(OptionType.INTEGER, "height", "Height in pixels (overrides size and ar)")
                                        .setRequiredRange(GenerationLimits.MIN_SIZE, GenerationLimits.MAX_SIZE),
                                sampler,
                                schedule,
                                new OptionData(OptionType.INTEGER, "count", "Images to make (1-4)")
                                        .setRequiredRange(GenerationLimits.MIN_COUNT, GenerationLimits.MAX_COUNT),
                                new OptionData(OptionType.STRING, "model", "Model name").setMaxLength(100)
                                        .setAutoComplete(true)),
                net.dv8tion.jda.api.interactions.commands.build.Commands.slash(JOBS, "Your recent jobs"),
                net.dv8tion.jda.api.interactions.commands.build.Commands.slash(QUOTA, "What is left of your allowance"),
                net.dv8tion.jda.api.interactions.commands.build.Commands.slash(CANCEL, "Cancel a queued or running job")
                        .addOption(OptionType.STRING, "job", "Job id (default: your latest active job)"),
                net.dv8tion.jda.api.interactions.commands.build.Commands.slash(MODELS, "The models the workers serve"),
                loras(),
                settings(),
                admin(adminRolesConfigured));
    }

    /** A {@code schedule} option: A1111's names as choices, the ids ({@link Schedule#id()}) as values. */
    static OptionData scheduleOption(String description) {
        OptionData o = new OptionData(OptionType.STRING, "schedule", description);
        Arrays.stream(Schedule.values()).forEach(s -> o.addChoice(s.displayName(), s.id()));
        return o;
    }

    private static SlashCommandData loras() {
        OptionData family = new OptionData(OptionType.STRING, "family", "Only those for this model family");
        Arrays.stream(ModelFamily.values()).forEach(f -> family.addChoice(f.label(), f.id()));
        return net.dv8tion.jda.api.interactions.commands.build.Commands.slash(LORAS,
                "The LoRAs (<lora:NAME:WEIGHT> in a prompt) and embeddings (their name as a word) the workers have")
                .addOptions(new OptionData(OptionType.STRING, "search", "Part of the name").setMaxLength(100), family);
    }

    private static SlashCommandData settings() {
        OptionData sampler = new OptionData(OptionType.STRING, "sampler", "Your default sampler");
        Arrays.stream(Sampler.values()).forEach(s -> sampler.addChoice(s.displayName(), s.id()));
        OptionData size = new OptionData(OptionType.STRING, "size", "Your default size, width x height");
        Arrays.stream(ImagineOptions.SIZES).forEach(s -> size.addChoice(s, s));
        return net.dv8tion.jda.api.interactions.commands.build.Commands.slash(SETTINGS,
                "Your defaults for /imagine (no options: show them)").addOptions(
                sampler,
                new OptionData(OptionType.INTEGER, "steps", "Your default steps")
                        .setRequiredRange(GenerationLimits.MIN_STEPS, GenerationLimits.MAX_STEPS),
                new OptionData(OptionType.NUMBER, "cfg", "Your default guidance scale")
                        .setRequiredRange(GenerationLimits.MIN_CFG, GenerationLimits.MAX_CFG),
                size,
                new OptionData(OptionType.STRING, "negative", "Your default negative prompt ('-' clears it)")
                        .setMaxLength(GenerationLimits.MAX_PROMPT_CHARS),
                new OptionData(OptionType.BOOLEAN, "gallery", "Show your images in the community gallery"),
                new OptionData(OptionType.BOOLEAN, "reset", "Forget all your defaults first"),
                scheduleOption("Your default noise schedule (used with the samplers that take it)"),
                new OptionData(OptionType.NUMBER, "guidance_rescale",
                        "Your default CFG rescale φ, 0-1 (0: none; about 0.7 for v-prediction models)")
                        .setRequiredRange(GenerationLimits.MIN_GUIDANCE_RESCALE, GenerationLimits.MAX_GUIDANCE_RESCALE),
                new OptionData(OptionType.INTEGER, "clip_skip",
                        "Your default clip skip, 1-12 (1: none, each model's own; 2 for anime SD 1.5 models = SDXL's default)")
                        .setRequiredRange(GenerationLimits.MIN_CLIP_SKIP, GenerationLimits.MAX_CLIP_SKIP));
    }

    private static SlashCommandData admin(boolean adminRolesConfigured) {
        SlashCommandData admin = net.dv8tion.jda.api.interactions.commands.build.Commands.slash(ADMIN,
                "Server administration (Manage Server or an admin role)").setContexts(InteractionContextType.GUILD)
                .addSubcommands(
                        new SubcommandData("workers", "Every worker: host, device, model, state, speed, heartbeat"),
                        new SubcommandData("quota", "Set a user's or a role's quota (no limits: back to the default)")
                                .addOption(OptionType.USER, "user", "The user")
                                .addOption(OptionType.ROLE, "role", "The role (members get their most generous role)")
                                .addOptions(new OptionData(OptionType.INTEGER, "daily", "Images per day")
                                                .setRequiredRange(0, 1_000_000),
                                        new OptionData(OptionType.INTEGER, "active", "Jobs queued or running at once")
                                                .setRequiredRange(1, 1_000)),
                        new SubcommandData("pause", "Stop taking new jobs (queued jobs are kept and still run)"),
                        new SubcommandData("resume", "Take new jobs again"),
                        new SubcommandData("ban", "Stop a user from generating images")
                                .addOption(OptionType.USER, "user", "The user", true),
                        new SubcommandData("unban", "Let a banned user generate images again")
                                .addOption(OptionType.USER, "user", "The user", true),
                        new SubcommandData("loras", "How many LoRAs one prompt may use (no max: show it)")
                                .addOptions(new OptionData(OptionType.INTEGER, "max", "LoRAs per prompt (0: none;"
                                        + " default " + LoraService.DEFAULT_MAX_LORAS + ")")
                                        .setRequiredRange(0, LoraService.MAX_LORAS_LIMIT)),
                        new SubcommandData("negative", "The server's default negative prompt (empty: none)")
                                .addOptions(new OptionData(OptionType.STRING, "text", "Default negative prompt")
                                        .setMaxLength(GenerationLimits.MAX_PROMPT_CHARS)))
                .addSubcommandGroups(ModerationAdmin.group());
        if (!adminRolesConfigured) {
            admin.setDefaultPermissions(DefaultMemberPermissions.enabledFor(Permission.MANAGE_SERVER));
        }
        return admin;
    }
}
