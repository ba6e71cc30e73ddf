package org.diffusionbot.bot.service;

import java.util.Locale;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.image.GenerationParameters;
import org.diffusionbot.db.GalleryImage;
import org.diffusionbot.db.JobRecord;

/**
 * The {@code /imagine} command line that makes an image or a job again, with the option names of the bot's
 * {@code /imagine} command (see {@code Commands}): {@code /imagine prompt:… [negative:…] steps:… cfg:… seed:…
 * sampler:… [schedule:…] width:… height:… [count:…] model:… [guidance_rescale:…] [clip_skip:…]}. The one implementation behind
 * the ℹ️ Info button's line (a job: its seed and count) and the gallery's (an image: its own seed, one image).
 * Prompts are single-line there, so runs of whitespace (line breaks included) become one space.
 */
public final class ImagineLine {
    private ImagineLine() {
    }

    /** The line that makes this gallery image again: its own seed (a batch's image i has the job's seed + i). */
    public static String of(GalleryImage g) {
        return of(g.prompt(), g.negativePrompt(), g.steps(), g.cfg(), g.seed(), g.sampler(), g.schedule(), g.width(),
                g.height(), 1, g.model(), GenerationParameters.guidanceRescaleOf(g.parameters()), g.clipSkip());
    }

    /**
     * The line that makes this job again: its seed and image count.
     *
     * @param guidanceRescale the request's {@code guidance_rescale} φ (0: none, left out)
     */
    public static String of(JobRecord job, double guidanceRescale) {
        return of(job.prompt(), job.negativePrompt(), job.steps(), job.cfg(), job.seed(), job.sampler(), job.schedule(),
                job.width(), job.height(), job.imageCount(), job.model(), guidanceRescale, job.clipSkip());
    }

    /**
     * @param negative the negative prompt; null or blank: left out
     * @param schedule the schedule id; null or {@code default}: left out
     * @param count images; 1 (the command's default): left out
     * @param guidanceRescale φ; 0 (none): left out
     * @param clipSkip the job's clip skip; {@link GenerationLimits#FAMILY_DEFAULT_CLIP_SKIP} (none chosen, or the
     *     model family's default chosen: 1 for SD 1.x/2.x, 2 for SDXL, {@code ModelFamily.jobClipSkip}): left out,
     *     so the line gives the model's default again; any other (SDXL's 1 included) written
     */
    static String of(String prompt, String negative, int steps, double cfg, long seed, String sampler, String schedule,
            int width, int height, int count, String model, double guidanceRescale, int clipSkip) {
        StringBuilder sb = new StringBuilder("/imagine prompt:").append(oneLine(prompt));
        if (negative != null && !negative.isBlank()) {
            sb.append(" negative:").append(oneLine(negative));
        }
        sb.append(" steps:").append(steps)
                .append(" cfg:").append(number(cfg))
                .append(" seed:").append(seed)
                .append(" sampler:").append(sampler);
        if (schedule != null && !schedule.equals(Schedule.DEFAULT.id())) {
            sb.append(" schedule:").append(schedule);
        }
        sb.append(" width:").append(width).append(" height:").append(height);
        if (count != 1) {
            sb.append(" count:").append(count);
        }
        sb.append(" model:").append(model);
        if (guidanceRescale != 0) {
            sb.append(" guidance_rescale:").append(number(guidanceRescale));
        }
        if (clipSkip != GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP) {
            sb.append(" clip_skip:").append(clipSkip);
        }
        return sb.toString();
    }

    /**
     * A1111's name of the schedule the job ran ("Karras" also for the "... Karras" samplers), or null
     * for the sampler's default (or an unknown stored value).
     */
    public static String scheduleName(String sampler, String schedule) {
        try {
            Schedule s = org.diffusionbot.common.Sampler.fromId(sampler)
                    .scheduleWith(schedule == null ? Schedule.DEFAULT : Schedule.fromId(schedule));
            return s == Schedule.DEFAULT ? null : s.displayName();
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static String oneLine(String s) {
        return s.replaceAll("\\s+", " ").strip();
    }

    /** A number as an option value: {@code 7} for 7.0, else Java's shortest form ({@code 7.5}). */
    public static String number(double d) {
        if (d == Math.rint(d) && Math.abs(d) < 1e15) {
            return Long.toString((long) d);
        }
        return String.format(Locale.ROOT, "%s", d);
    }
}
