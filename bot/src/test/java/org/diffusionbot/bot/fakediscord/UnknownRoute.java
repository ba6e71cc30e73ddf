package org.diffusionbot.bot.fakediscord;

/** A REST call the fake does not implement (answered 404 {@code {"message":"404: Not Found","code":0}}). */
public record UnknownRoute(String method, String path, String query) {
    @Override
    public String toString() {
        return method + " " + path + (query == null ? "" : "?" + query);
    }
}
