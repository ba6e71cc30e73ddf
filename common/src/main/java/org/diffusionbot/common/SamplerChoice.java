package org.diffusionbot.common;

/**
 * The sampler and schedule a job runs with, from what the user asked for and the defaults (the
 * model's recommendation, the user's settings, the bot's): one rule for {@code /imagine} and
 * {@code worker.jar imagine}.
 *
 * <ul>
 *   <li>sampler: the one asked for, else the default one, else {@link Sampler#DEFAULT};
 *   <li>a schedule asked for must suit the sampler, except that a default "... Karras" sampler gives
 *       way to it ({@code schedule:trailing} alone runs {@code dpmpp_2m} with trailing, not a refusal);
 *   <li>a default schedule is taken only when the sampler takes it, else the sampler's own.
 * </ul>
 *
 * @param sampler the sampler
 * @param schedule the schedule (never null)
 */
public record SamplerChoice(Sampler sampler, Schedule schedule) {
    public SamplerChoice {
        java.util.Objects.requireNonNull(sampler, "sampler");
        java.util.Objects.requireNonNull(schedule, "schedule");
    }

    /**
     * @param sampler the sampler asked for, or null
     * @param schedule the schedule asked for, or null
     * @param defaultSampler the default sampler, or null ({@link Sampler#DEFAULT})
     * @param defaultSchedule the default schedule, or null ({@link Schedule#DEFAULT})
     * @throws IllegalArgumentException when the schedule asked for does not suit the sampler asked for
     */
    public static SamplerChoice of(Sampler sampler, Schedule schedule, Sampler defaultSampler, Schedule defaultSchedule) {
        Sampler s = sampler != null ? sampler : defaultSampler != null ? defaultSampler : Sampler.DEFAULT;
        if (schedule != null) {
            if (sampler == null && !s.supports(schedule)) {
                s = s.unscheduled();
            }
            s.scheduleWith(schedule); // refused with the schedules this sampler takes
            return new SamplerChoice(s, schedule);
        }
        return new SamplerChoice(s, defaultSchedule != null && s.supports(defaultSchedule) ? defaultSchedule
                : Schedule.DEFAULT);
    }
}
