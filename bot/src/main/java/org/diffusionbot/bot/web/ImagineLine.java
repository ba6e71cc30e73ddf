package org.diffusionbot.bot.web;

import java.util.Locale;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.image.GenerationParameters;
import org.diffusionbot.db.GalleryImage;

/**
 * The {@code /imagine} command line that makes this image again: the option names of the bot's
 * {@code /imagine} command (see {@code Commands}), this image's own seed (an image of a batch has the
 * job's seed plus its index) and one image. Prompts are single-line there, so line breaks become spaces.
 */
final class ImagineLine {
    private ImagineLine() {
    }

    static String of(GalleryImage g) {
        StringBuilder sb = new StringBuilder("/imagine prompt:").append(oneLine(g.prompt()));
        if (g.negativePrompt() != null && !g.negativePrompt().isBlank()) {
            sb.append(" negative:").append(oneLine(g.negativePrompt()));
        }
        sb.append(" steps:").append(g.steps())
                .append(" cfg:").append(number(g.cfg()))
                .append(" seed:").append(g.seed())
                .append(" sampler:").append(g.sampler())
                .append(scheduleOption(g.schedule()))
                .append(" width:").append(g.width())
                .append(" height:").append(g.height())
                .append(" model:").append(g.model());
        double rescale = GenerationParameters.guidanceRescaleOf(g.parameters());
        if (rescale != 0) {
            sb.append(" guidance_rescale:").append(number(rescale));
        }
        return sb.toString();
    }

    /**
     * The {@code schedule:} option of an {@code /imagine} line: empty for none or the default, else
     * {@code " schedule:karras"}.
     */
    static String scheduleOption(String schedule) {
        return schedule == null || schedule.equals(Schedule.DEFAULT.id()) ? ""
                : " schedule:" + schedule;
    }

    /**
     * A1111's name of the schedule the job ran ("Karras" also for the "... Karras" samplers), or null
     * for the sampler's default (or an unknown stored value).
     */
    static String scheduleName(String sampler, String schedule) {
        try {
            Schedule s = org.diffusionbot.common.Sampler.fromId(sampler)
                    .scheduleWith(schedule == null ? Schedule.DEFAULT : Schedule.fromId(schedule));
            return s == Schedule.DEFAULT ? null : s.displayName();
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static String oneLine(String s) {
        return s.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
    }

    static String number(double d) {
        if (d == Math.rint(d) && Math.abs(d) < 1e15) {
            return Long.toString((long) d);
        }
        return String.format(Locale.ROOT, "%s", d);
    }
}
