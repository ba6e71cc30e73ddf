package org.diffusionbot.common.config;

/**
 * A setting is missing or malformed. The message is one line that names the variable and says how
 * to fix it; start-up code prints it and exits with status 2.
 */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }
}
