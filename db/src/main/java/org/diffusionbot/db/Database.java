package org.diffusionbot.db;

/** Placeholder. */
final class Database {
    private Database() {
    }
}
