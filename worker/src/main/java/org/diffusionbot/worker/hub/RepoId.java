package org.diffusionbot.worker.hub;

import java.util.regex.Pattern;

/**
 * A Hugging Face model repository: {@code owner/name}, optionally {@code @revision} (branch, tag or
 * commit; default {@code main}).
 */
public record RepoId(String owner, String name, String revision) {
    private static final Pattern PART = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,95}");
    private static final Pattern REVISION = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    public RepoId {
        check(owner, "owner");
        check(name, "name");
        if (revision == null || !REVISION.matcher(revision).matches() || revision.contains("..")) {
            throw new HubException("repository revision '" + revision + "' is not valid "
                    + "(a branch, tag or commit: letters, digits, '-', '_', '.'; no '..')");
        }
    }

    private static void check(String part, String what) {
        if (part == null || !PART.matcher(part).matches() || part.contains("..") || part.endsWith(".")) {
            throw new HubException("repository " + what + " '" + part + "' is not valid (letters, digits, '-', '_', "
                    + "'.'; no '..')");
        }
    }

    /** Parses {@code owner/name[@revision]}; anything else is refused with a clear message. */
    public static RepoId parse(String id) {
        if (id == null || id.isBlank()) {
            throw new HubException("empty Hugging Face repository id (expected owner/name or owner/name@revision)");
        }
        String repo = id;
        String rev = "main";
        int at = id.indexOf('@');
        if (at >= 0) {
            repo = id.substring(0, at);
            rev = id.substring(at + 1);
        }
        String[] parts = repo.split("/", -1);
        if (parts.length != 2) {
            throw new HubException("'" + id + "' is not a Hugging Face repository id: expected exactly one '/' "
                    + "as in owner/name or owner/name@revision");
        }
        try {
            return new RepoId(parts[0], parts[1], rev);
        } catch (HubException e) {
            throw new HubException("'" + id + "' is not a valid Hugging Face repository id: " + e.getMessage());
        }
    }

    /** Whether {@code s} has the shape of a repository id (does not validate every character). */
    public static boolean looksLike(String s) {
        if (s == null || s.startsWith("/") || s.startsWith(".") || s.startsWith("~") || s.contains("\\")) {
            return false;
        }
        String repo = s.contains("@") ? s.substring(0, s.indexOf('@')) : s;
        return repo.chars().filter(c -> c == '/').count() == 1 && !repo.endsWith(".safetensors");
    }

    /** {@code owner/name}, as the hub's URLs spell it. */
    public String path() {
        return owner + "/" + name;
    }

    @Override
    public String toString() {
        return path() + (revision.equals("main") ? "" : "@" + revision);
    }
}
