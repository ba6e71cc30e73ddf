package org.diffusionbot.bot.service;

import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.db.SettingsStore;
import org.diffusionbot.db.SubmissionContext;
import org.diffusionbot.db.UserSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A user's defaults for {@code /imagine} ({@code /settings}) and how they merge: explicit options win, then the
 * user's defaults, then the server's default negative prompt, then the bot's defaults.
 */
public final class UserSettingsService {
    private static final Logger LOG = LoggerFactory.getLogger(UserSettingsService.class);

    private final SettingsStore settings;

    public UserSettingsService(SettingsStore settings) {
        this.settings = settings;
    }

    /**
     * A {@code /settings} call, checked without I/O (each field null: unchanged).
     *
     * @param negative the new default negative prompt; "-" or blank clears it
     * @param reset    forget every default (not the gallery choice) before applying the rest
     * @param schedule the new default schedule id ({@link Schedule}), or null: unchanged
     * @param guidanceRescale the new default guidance_rescale φ, 0 to 1 (0: the bot's default, plain guidance), or
     *     null: unchanged
     * @param clipSkip the new default clip skip, 1 to 12, for every model family (Automatic1111's numbering: 2 is SD
     *     1.x's penultimate layer and SDXL's default), or null: unchanged; 1 clears it (each model's default: SD
     *     1.x/2.x's last layer, SDXL's penultimate, as Automatic1111's default "Clip skip 1" leaves SDXL)
     */
    public record Change(String sampler, Integer steps, Double cfg, Integer width, Integer height, String negative,
            Boolean gallery, boolean reset, String schedule, Double guidanceRescale, Integer clipSkip) {
        /**
         * Checks the raw option values against {@link GenerationLimits}; throws IllegalArgumentException with the
         * message for the user.
         */
        public static Change of(String sampler, Long steps, Double cfg, String size, String negative, Boolean gallery,
                boolean reset, String schedule, Double guidanceRescale, Long clipSkip) {
            String s = sampler == null ? null : Sampler.fromId(sampler).id();
            String sch = schedule == null ? null : Schedule.fromId(schedule).id();
            Integer st = steps == null ? null : GenerationLimits.checkSteps((int) Math.max(Integer.MIN_VALUE,
                    Math.min(Integer.MAX_VALUE, steps)));
            Double c = cfg == null ? null : GenerationLimits.checkCfg(cfg);
            int[] wh = size == null ? null : ImagineOptions.parseSize(size);
            if (wh != null) {
                GenerationLimits.checkSize(wh[0], wh[1]);
            }
            String n = negative == null ? null : negative.trim().equals("-") ? "-"
                    : GenerationLimits.checkPrompt("negative prompt", negative, false);
            Double r = guidanceRescale == null ? null : GenerationLimits.checkGuidanceRescale(guidanceRescale);
            Integer cs = clipSkip == null ? null : GenerationLimits.checkClipSkip((int) Math.max(Integer.MIN_VALUE,
                    Math.min(Integer.MAX_VALUE, clipSkip)));
            return new Change(s, st, c, wh == null ? null : wh[0], wh == null ? null : wh[1], n, gallery, reset, sch,
                    r, cs);
        }
    }

    public UserSettings show(long userId) {
        return settings.userSettings(userId);
    }

    /** Applies {@code change} to the user's saved defaults and saves the result, which it returns. */
    public UserSettings apply(long userId, String userName, Change change) {
        UserSettings saved = settings.userSettings(userId);
        UserSettings cur = change.reset() ? new UserSettings(null, null, null, null, null, null, saved.galleryPublic())
                : saved;
        String negative = change.negative() == null ? cur.negativePrompt()
                : change.negative().equals("-") || change.negative().isBlank() ? null : change.negative();
        UserSettings next = new UserSettings(
                change.sampler() != null ? change.sampler() : cur.sampler(),
                change.steps() != null ? change.steps() : cur.steps(),
                change.cfg() != null ? change.cfg() : cur.cfg(),
                change.width() != null ? change.width() : cur.width(),
                change.height() != null ? change.height() : cur.height(),
                negative,
                change.gallery() != null ? change.gallery() : cur.galleryPublic(),
                change.schedule() != null ? change.schedule() : cur.schedule(),
                // 0 is the bot's default: saved as none, so /settings shows it as the default
                change.guidanceRescale() == null ? cur.guidanceRescale()
                        : change.guidanceRescale() == 0 ? null : change.guidanceRescale(),
                // 1 clears it, as guidance_rescale 0: none saved = each model's default (SDXL keeps its penultimate
                // layer, as in Automatic1111 with its default settings, rather than every SDXL job taking the last)
                change.clipSkip() == null ? cur.clipSkip()
                        : change.clipSkip() == GenerationLimits.MIN_CLIP_SKIP ? null : change.clipSkip());
        settings.saveUserSettings(userId, userName, next);
        return next;
    }

    /** The defaults {@code /imagine} fills in: the user's settings, then the server's default negative prompt. */
    public static ImagineOptions.Defaults imagineDefaults(SubmissionContext context, Caller caller) {
        UserSettings s = context.user();
        String negative = s.negativePrompt();
        if (negative == null && caller.guildId() != null) {
            negative = context.guildNegative();
        }
        Sampler sampler = null;
        if (s.sampler() != null) {
            try {
                sampler = Sampler.fromId(s.sampler());
            } catch (IllegalArgumentException e) {
                LOG.warn("user {} has an unknown default sampler {}", caller.userId(), s.sampler());
            }
        }
        Schedule schedule = null;
        if (s.schedule() != null) {
            try {
                schedule = Schedule.fromId(s.schedule());
            } catch (IllegalArgumentException e) {
                LOG.warn("user {} has an unknown default schedule {}", caller.userId(), s.schedule());
            }
        }
        return new ImagineOptions.Defaults(sampler, s.steps(), s.cfg(), s.width(), s.height(), negative, schedule,
                s.guidanceRescale(), s.clipSkip());
    }
}
