package org.diffusionbot.db;

/**
 * One image of a finished job as stored: the PNG (with its parameters chunk), a gallery thumbnail, and the image
 * safety check's verdict.
 *
 * @param safety the verdict ({@link ImageSafety#UNCHECKED} for jobs from age-restricted channels, whatever a worker
 *     sent)
 * @param score the checker's score (its highest concept score; positive when flagged), or null when unchecked or
 *     not recorded (the database keeps the score of flagged images only)
 * @param shownAs what the user is shown of a flagged image, as the server's setting said when the result was
 *     stored; null for other images, and for a flagged one not stored yet
 */
public record StoredImage(int index, long seed, int width, int height, byte[] png, byte[] thumbnail, String parameters,
        ImageSafety safety, Float score, ModerationStore.FlaggedAction shownAs) {

    public StoredImage {
        if (safety == null) {
            throw new IllegalArgumentException("an image's safety verdict must be given (UNCHECKED when none)");
        }
        if (shownAs != null && safety != ImageSafety.FLAGGED) {
            throw new IllegalArgumentException("only a flagged image is withheld or shown as a spoiler");
        }
    }

    /** An image that was not checked. */
    public StoredImage(int index, long seed, int width, int height, byte[] png, byte[] thumbnail, String parameters) {
        this(index, seed, width, height, png, thumbnail, parameters, ImageSafety.UNCHECKED, null, null);
    }

    /** @return this image with the check's verdict (flagged or passed) and score */
    public StoredImage checked(boolean flagged, float checkScore) {
        return new StoredImage(index, seed, width, height, png, thumbnail, parameters,
                flagged ? ImageSafety.FLAGGED : ImageSafety.PASSED, checkScore, null);
    }

    /**
     * Whether the user is not shown this image: flagged, and the server withholds flagged images (or, never expected,
     * nothing says how to show it).
     */
    public boolean withheld() {
        return safety == ImageSafety.FLAGGED && shownAs != ModerationStore.FlaggedAction.SPOILER;
    }

    /** Whether the user is shown this image as a spoiler (flagged, and the server shows flagged images so). */
    public boolean spoiler() {
        return shownAs == ModerationStore.FlaggedAction.SPOILER;
    }

    StoredImage as(ImageSafety s, ModerationStore.FlaggedAction shown) {
        return new StoredImage(index, seed, width, height, png, thumbnail, parameters, s,
                s == ImageSafety.UNCHECKED ? null : score, shown);
    }
}
