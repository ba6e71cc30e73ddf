package org.diffusionbot.db;

/** One image of a finished job as stored: the PNG (with its parameters chunk) and a gallery thumbnail. */
public record StoredImage(int index, long seed, int width, int height, byte[] png, byte[] thumbnail, String parameters) {
}
