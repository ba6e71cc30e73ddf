package org.diffusionbot.bot.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.diffusionbot.db.SubmissionContext;
import org.diffusionbot.db.UserSettings;
import org.junit.jupiter.api.Test;

/** {@code /settings}' checks of the raw options and the defaults it hands {@code /imagine}. */
class UserSettingsServiceTest {
    private static UserSettingsService.Change clipSkip(Long value) {
        return UserSettingsService.Change.of(null, null, null, null, null, null, false, null, null, value);
    }

    @Test
    void clipSkipIsCheckedAgainstTheLimits() {
        assertEquals(2, clipSkip(2L).clipSkip());
        assertEquals(1, clipSkip(1L).clipSkip(), "1 is taken (apply saves it as none: each model's default)");
        assertNull(clipSkip(null).clipSkip(), "left out: unchanged");
        assertEquals("clip skip must be between 1 and 12, got 13",
                assertThrows(IllegalArgumentException.class, () -> clipSkip(13L)).getMessage());
        assertEquals("clip skip must be between 1 and 12, got 0",
                assertThrows(IllegalArgumentException.class, () -> clipSkip(0L)).getMessage());
        assertEquals("clip skip must be between 1 and 12, got 2147483647",
                assertThrows(IllegalArgumentException.class, () -> clipSkip(1L << 40)).getMessage());
    }

    @Test
    void theSavedClipSkipBecomesImaginesDefault() {
        UserSettings s = new UserSettings(null, null, null, null, null, null, true, null, 0.7, 2);
        SubmissionContext c = new SubmissionContext(false, s, null, null, null, null);
        ImagineOptions.Defaults d = UserSettingsService.imagineDefaults(c, CALLER);
        assertEquals(2, d.clipSkip());
        assertEquals(0.7, d.guidanceRescale());
        assertNull(UserSettingsService.imagineDefaults(new SubmissionContext(false, UserSettings.NONE, null, null, null,
                null), CALLER).clipSkip());
    }

    private static final Caller CALLER = new Caller(7L, "ann", 9L, List.of(), false);
}
