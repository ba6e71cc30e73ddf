package org.diffusionbot.bot.discord;

import java.util.Set;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.interactions.commands.OptionMapping;
import org.diffusionbot.bot.service.AdminService;
import org.diffusionbot.bot.service.Caller;
import org.diffusionbot.bot.service.LoraService;
import org.diffusionbot.bot.service.FleetStatus;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.GenerationLimits;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code /admin}: workers, quota, loras, pause, resume, ban, unban, negative, and the {@code moderation} group
 * ({@link ModerationAdmin}). The caller's permission is checked here on
 * every call, from the interaction itself (Manage Server, Administrator, or a configured admin role), whatever
 * Discord shows or hides; a refusal is ephemeral and changes nothing.
 */
final class AdminCommand implements SlashCommand {
    private static final Logger LOG = LoggerFactory.getLogger(AdminCommand.class);
    static final String NOT_ADMIN = "❌ Only members with the Manage Server permission or an admin role can use /admin.";

    private final AdminService admin;
    private final WorkerRegistry workers;
    private final FleetStatus fleet;
    private final Set<Long> adminRoleIds;
    private final Executor executor;
    private final ModerationAdmin moderation;

    AdminCommand(AdminService admin, WorkerRegistry workers, FleetStatus fleet, Set<Long> adminRoleIds,
            Executor executor,
            ModerationAdmin moderation) {
        this.moderation = moderation;
        this.admin = admin;
        this.workers = workers;
        this.fleet = fleet;
        this.adminRoleIds = adminRoleIds;
        this.executor = executor;
    }

    @Override
    public String name() {
        return Commands.ADMIN;
    }

    @Override
    public void handle(SlashCommandInteractionEvent event) {
        Caller caller = Callers.of(event, adminRoleIds);
        if (caller.guildId() == null) {
            event.reply("❌ /admin works in a server, not in direct messages.").setEphemeral(true).queue();
            return;
        }
        if (!caller.admin()) {
            LOG.info("user {} refused /admin {} in guild {}", caller.userId(), event.getSubcommandName(),
                    caller.guildId());
            event.reply(NOT_ADMIN).setEphemeral(true).queue();
            return;
        }
        String sub = event.getSubcommandName() == null ? "" : event.getSubcommandName();
        String group = event.getSubcommandGroup();
        LOG.info("/admin {}{} by user {} in guild {}", group == null ? "" : group + " ", sub, caller.userId(),
                caller.guildId());
        if (ModerationAdmin.GROUP.equals(group)) {
            moderation.handle(event, caller);
            return;
        }
        switch (sub) {
            case "workers" -> answer(event, () -> JobMessages.workers(workers.workers(), fleet.models(), admin.paused()));
            case "pause" -> answer(event, () -> admin.setPaused(true, caller.userId())
                    ? "⏸️ Paused: new jobs are refused (nothing is charged for them); jobs already queued stay queued"
                            + " and still run. `/admin resume` takes jobs again."
                    : "The bot was already paused.");
            case "resume" -> answer(event, () -> admin.setPaused(false, caller.userId())
                    ? "▶️ Resumed: new jobs are taken again." : "The bot was not paused.");
            case "ban", "unban" -> {
                OptionMapping u = event.getOption("user");
                if (u == null) {
                    event.reply("❌ Name a user.").setEphemeral(true).queue();
                    return;
                }
                long userId = u.getAsUser().getIdLong();
                String name = u.getAsUser().getName();
                boolean ban = sub.equals("ban");
                if (ban && userId == caller.userId()) {
                    event.reply("❌ You cannot ban yourself.").setEphemeral(true).queue();
                    return;
                }
                answer(event, () -> {
                    boolean changed = admin.setBanned(userId, name, ban);
                    String who = "<@" + userId + ">";
                    return ban ? (changed ? "🔨 " + who + " is banned: their new jobs are refused."
                            : who + " was already banned.")
                            : (changed ? "✅ " + who + " may generate images again." : who + " was not banned.");
                });
            }
            case "quota" -> quota(event, caller);
            case "loras" -> {
                Integer max;
                try {
                    max = intOption(event, "max", 0, LoraService.MAX_LORAS_LIMIT);
                } catch (IllegalArgumentException e) {
                    Replies.error(event, JobMessages.escape(e.getMessage()));
                    return;
                }
                answer(event, () -> {
                    if (max != null) {
                        admin.setGuildMaxLoras(caller.guildId(), max, caller.userId());
                    }
                    int now = max != null ? max : admin.guildMaxLoras(caller.guildId());
                    return (max != null ? "✅ " : "") + (now == 0 ? "LoRAs are turned off on this server: prompts that"
                            + " name one are refused (nothing charged)."
                            : "One prompt may use at most " + now + " LoRA" + (now == 1 ? "" : "s")
                                    + " on this server (the prompt and the negative prompt together).")
                            + (max == null ? " `/admin loras max:N` changes it (0 to " + LoraService.MAX_LORAS_LIMIT
                                    + ")." : "");
                });
            }
            case "negative" -> {
                OptionMapping t = event.getOption("text");
                String text;
                try {
                    text = t == null ? "" : GenerationLimits.checkPrompt("default negative prompt", t.getAsString(),
                            false);
                } catch (IllegalArgumentException e) {
                    Replies.error(event, JobMessages.escape(e.getMessage()));
                    return;
                }
                answer(event, () -> {
                    admin.setGuildNegative(caller.guildId(), text.isBlank() ? null : text,
                            caller.userId());
                    return text.isBlank() ? "✅ This server has no default negative prompt now."
                            : "✅ Default negative prompt of this server: " + JobMessages.excerpt(text)
                                    + "\n(used when neither `/imagine negative:` nor the user's `/settings` give one)";
                });
            }
            default -> event.reply("Unknown subcommand.").setEphemeral(true).queue();
        }
    }

    private void quota(SlashCommandInteractionEvent event, Caller caller) {
        OptionMapping user = event.getOption("user");
        OptionMapping role = event.getOption("role");
        if ((user == null) == (role == null)) {
            event.reply("❌ Name either a user or a role.").setEphemeral(true).queue();
            return;
        }
        Integer daily;
        Integer active;
        try {
            daily = intOption(event, "daily", 0, 1_000_000);
            active = intOption(event, "active", 1, 1_000);
        } catch (IllegalArgumentException e) {
            Replies.error(event, JobMessages.escape(e.getMessage()));
            return;
        }
        String limits = daily == null && active == null ? "the default limits"
                : (daily == null ? "the default daily limit" : daily + " images a day") + " and "
                        + (active == null ? "the default number of jobs at once" : active + " job(s) at once");
        if (user != null) {
            long userId = user.getAsUser().getIdLong();
            String name = user.getAsUser().getName();
            answer(event, () -> {
                admin.setUserQuota(userId, name, daily, active);
                return "✅ <@" + userId + "> now has " + limits + " (an override of their roles and the default).";
            });
        } else {
            long roleId = role.getAsLong();
            answer(event, () -> {
                admin.setRoleQuota(caller.guildId(), roleId, daily, active, caller.userId());
                return daily == null && active == null ? "✅ <@&" + roleId + "> has no quota of its own now."
                        : "✅ Members of <@&" + roleId + "> now get " + limits
                                + " (their most generous role counts; user overrides win).";
            });
        }
    }

    private static Integer intOption(SlashCommandInteractionEvent event, String name, int min, int max) {
        OptionMapping o = event.getOption(name);
        if (o == null) {
            return null;
        }
        long v;
        try {
            v = o.getAsLong();
        } catch (IllegalStateException | NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be a whole number");
        }
        if (v < min || v > max) {
            throw new IllegalArgumentException(name + " must be between " + min + " and " + max + ", got " + v);
        }
        return (int) v;
    }

    private void answer(SlashCommandInteractionEvent event, Supplier<String> text) {
        Replies.ephemeral(event, "/admin " + event.getSubcommandName(), executor, text);
    }
}
