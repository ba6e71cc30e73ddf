package org.diffusionbot.bot.discord;

import java.util.List;
import java.util.Locale;
import net.dv8tion.jda.api.utils.MarkdownSanitizer;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.QuotaStatus;

/**
 * The texts the bot shows. Everything a user typed is Markdown-escaped and shortened here, and
 * messages are sent with mentions disabled, so a prompt cannot format, ping or impersonate.
 */
public final class JobMessages {
    /** Longest prompt excerpt shown in a message (Discord allows 2000 characters in all). */
    static final int PROMPT_EXCERPT = 300;

    private JobMessages() {
    }

    public static String queued(String prompt, int position, QuotaStatus quota) {
        String where = position == 0 ? "next in line" : "position " + (position + 1) + " in the queue";
        return "🎨 " + bold(prompt) + " — queued, " + where + " · " + quota.remainingToday() + " of "
                + quota.dailyLimit() + " images left today";
    }

    public static String queuedDelayed(String prompt, QuotaStatus quota) {
        return "🎨 " + bold(prompt) + " — accepted; the job queue is recovering, so it will be sent to a worker"
                + " as soon as it is back · " + quota.remainingToday() + " of " + quota.dailyLimit()
                + " images left today";
    }

    public static String progress(JobRecord job, int step, int total, long etaMillis) {
        return "🎨 " + bold(job.prompt()) + " — step " + step + "/" + total + " " + bar(step, total)
                + (step < total ? " · about " + Math.max(1, Math.round(etaMillis / 1000.0)) + " s left" : "");
    }

    public static String succeeded(JobRecord job, List<Long> seeds, List<String> notes) {
        StringBuilder sb = new StringBuilder();
        sb.append(bold(job.prompt()));
        if (!job.negativePrompt().isEmpty()) {
            sb.append("\nNegative: ").append(excerpt(job.negativePrompt()));
        }
        sb.append('\n').append(parameters(job));
        sb.append(" · seed").append(seeds.size() > 1 ? "s " : " ")
                .append(String.join(", ", seeds.stream().map(String::valueOf).toList()));
        for (String note : notes) {
            sb.append("\n📝 ").append(escape(note));
        }
        sb.append("\n<@").append(job.userId()).append('>');
        return sb.toString();
    }

    public static String failed(JobRecord job, String reason, boolean cancelled) {
        return (cancelled ? "🚫 " : "❌ ") + bold(job.prompt()) + " — "
                + (cancelled ? "cancelled" : "failed: " + escape(reason)) + ". The " + job.quotaCharged()
                + " image(s) were given back to your allowance.";
    }

    public static String quota(QuotaStatus q) {
        return "You have **" + q.remainingToday() + "** of " + q.dailyLimit() + " images left today (resets <t:"
                + q.resetsAt().getEpochSecond() + ":R>) and " + q.activeJobs() + " of " + q.maxActive()
                + " jobs queued or running.";
    }

    public static String jobs(List<JobRecord> jobs) {
        if (jobs.isEmpty()) {
            return "You have no jobs yet. Try `/imagine`.";
        }
        StringBuilder sb = new StringBuilder("Your recent jobs:");
        for (JobRecord j : jobs) {
            sb.append("\n`").append(j.id()).append("` ").append(j.state().name().toLowerCase(Locale.ROOT))
                    .append(" <t:").append(j.createdAt().getEpochSecond()).append(":R> — ")
                    .append(escape(shorten(j.prompt(), 80)));
            if (j.error() != null && !j.state().name().equals("SUCCEEDED")) {
                sb.append(" (").append(escape(shorten(j.error(), 80))).append(')');
            }
        }
        return sb.toString();
    }

    static String parameters(JobRecord job) {
        String sampler;
        try {
            sampler = Sampler.fromId(job.sampler()).displayName();
        } catch (IllegalArgumentException e) {
            sampler = job.sampler();
        }
        return job.width() + "x" + job.height() + " · " + job.steps() + " steps · " + sampler + " · CFG "
                + (job.cfg() == Math.rint(job.cfg()) ? String.valueOf((long) job.cfg()) : String.valueOf(job.cfg()))
                + " · " + escape(job.model());
    }

    static String bar(int step, int total) {
        int filled = total == 0 ? 0 : Math.min(10, step * 10 / total);
        return "`" + "█".repeat(filled) + "░".repeat(10 - filled) + "`";
    }

    static String bold(String text) {
        return "**" + excerpt(text) + "**";
    }

    static String excerpt(String text) {
        return escape(shorten(text, PROMPT_EXCERPT));
    }

    static String shorten(String s, int max) {
        String one = s.replaceAll("\\s+", " ").trim();
        return one.length() <= max ? one : one.substring(0, max - 1) + "…";
    }

    /** Markdown-escapes and defuses mentions ({@code @everyone}, {@code <@id>}) by breaking the '@'. */
    static String escape(String s) {
        return MarkdownSanitizer.escape(s).replace("@", "@\u200b");
    }
}
