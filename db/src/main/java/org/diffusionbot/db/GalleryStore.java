package org.diffusionbot.db;

import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import javax.sql.DataSource;

/**
 * The community gallery's reads, and the two writes that decide what it shows (hiding an image, a
 * user's opt-out). Every read returns only images that are {@code visible}, passed the image safety check
 * ({@code safety = 'passed'}: checked, so from a channel that is not age-restricted; docs/MODERATION.md) and whose
 * author has {@code gallery_public} ({@link #SHOWN}); it checks all three in the same statement that reads the rows,
 * so a hidden image or a user who opted out is gone from the very next request. Pages are keyset-paged on
 * (created_at, id), newest first, from the partial indexes of migrations V2 and V10. All input is bound as statement
 * parameters.
 */
public final class GalleryStore {
    /** The largest page anyone gets. */
    public static final int MAX_PAGE = 100;
    /** The text search configuration of images.prompt_tsv (migration V2); queries must use the same. */
    static final String TS_CONFIG = "english";

    /**
     * The gallery's rule, over {@code images i} and its author {@code users u}: not hidden, passed the safety check,
     * the author shows their images. The partial indexes of migration V10 have the same image condition.
     */
    static final String SHOWN = "i.visible AND i.safety = 'passed' AND u.gallery_public";

    private static final String ITEM_COLUMNS = """
            SELECT i.id, i.created_at, i.user_id, u.name, i.model, i.sampler, j.prompt, i.width, i.height, i.seed
              FROM images i
              JOIN users u ON u.id = i.user_id
              JOIN jobs j ON j.id = i.job_id
            """;

    private final Jdbc jdbc;

    public GalleryStore(DataSource ds) {
        this.jdbc = new Jdbc(ds);
    }

    /** A page of the images the gallery shows ({@link #SHOWN}) matching the query, newest first. */
    public GalleryPage page(GalleryQuery q) {
        List<Object> args = new ArrayList<>();
        String sql = pageSql(q, args);
        List<GalleryItem> items = jdbc.list(sql, ITEM, args.toArray());
        if (items.size() > q.limit()) {
            items = items.subList(0, q.limit());
            return new GalleryPage(List.copyOf(items), items.get(items.size() - 1).cursor());
        }
        return new GalleryPage(List.copyOf(items), null);
    }

    /** The plan PostgreSQL runs {@link #page} with (EXPLAIN ANALYZE), for benchmarks and diagnostics. */
    public String explain(GalleryQuery q) {
        List<Object> args = new ArrayList<>();
        String sql = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + pageSql(q, args);
        return String.join("\n", jdbc.list(sql, rs -> rs.getString(1), args.toArray())) + "\n";
    }

    /** The page statement: fixed SQL fragments chosen by which filters are set; every value is a parameter. */
    private static String pageSql(GalleryQuery q, List<Object> args) {
        StringBuilder sql = new StringBuilder(ITEM_COLUMNS).append(" WHERE ").append(SHOWN);
        if (q.userId() != null) {
            sql.append(" AND i.user_id = ?");
            args.add(q.userId());
        }
        if (q.model() != null) {
            sql.append(" AND i.model = ?");
            args.add(q.model());
        }
        if (q.sampler() != null) {
            sql.append(" AND i.sampler = ?");
            args.add(q.sampler());
        }
        if (q.search() != null) {
            sql.append(" AND i.prompt_tsv @@ websearch_to_tsquery('" + TS_CONFIG + "', ?)");
            args.add(q.search());
        }
        if (q.before() != null) {
            sql.append(" AND (i.created_at, i.id) < (?, ?)");
            args.add(OffsetDateTime.ofInstant(q.before().createdAt(), ZoneOffset.UTC));
            args.add(q.before().id());
        }
        sql.append(" ORDER BY i.created_at DESC, i.id DESC LIMIT ?");
        args.add(q.limit() + 1);
        return sql.toString();
    }

    /** One image with its parameters and author; empty when absent or not shown ({@link #SHOWN}). */
    public Optional<GalleryImage> image(long imageId) {
        return jdbc.one("""
                SELECT i.id, i.job_id, i.image_index, i.created_at, i.user_id, u.name, j.kind, j.prompt,
                       j.negative_prompt, j.model, j.sampler, j.steps, j.cfg, i.seed, i.width, i.height,
                       j.clip_skip, j.strength,
                       (SELECT i.id FROM images i JOIN users u ON u.id = i.user_id -- the parent, if shown
                         WHERE i.id = j.parent_image_id AND\s""" + SHOWN + """
                       ), -- (this i and u, the parent and its author, hide the outer ones)
                       i.parameters, j.schedule
                  FROM images i
                  JOIN users u ON u.id = i.user_id
                  JOIN jobs j ON j.id = i.job_id
                 WHERE i.id = ? AND\s""" + SHOWN,
                rs -> new GalleryImage(rs.getLong(1), rs.getObject(2, UUID.class), rs.getInt(3),
                        rs.getTimestamp(4).toInstant(), rs.getLong(5), rs.getString(6), rs.getString(7),
                        rs.getString(8), rs.getString(9), rs.getString(10), rs.getString(11), rs.getInt(12),
                        rs.getDouble(13), rs.getLong(14), rs.getInt(15), rs.getInt(16), rs.getInt(17),
                        (Double) rs.getObject(18), (Long) rs.getObject(19), rs.getString(20),
                        rs.getString(21)), imageId);
    }

    /** Shown images made from this image (variations, upscales), newest first. */
    public List<GalleryItem> variations(long imageId, int limit) {
        return jdbc.list(ITEM_COLUMNS + """
                 WHERE j.parent_image_id = ? AND\s""" + SHOWN + """

                 ORDER BY i.created_at DESC, i.id DESC LIMIT ?""", ITEM, imageId, Math.max(1, Math.min(MAX_PAGE, limit)));
    }

    /** The full PNG of an image the gallery shows. */
    public Optional<byte[]> png(long imageId) {
        return bytes(imageId, "png");
    }

    /** The JPEG thumbnail of an image the gallery shows. */
    public Optional<byte[]> thumbnail(long imageId) {
        return bytes(imageId, "thumbnail");
    }

    /** Whether the gallery may show this image now (for revalidating cached bytes without reading them). */
    public boolean isVisible(long imageId) {
        return jdbc.one("""
                SELECT 1 FROM images i JOIN users u ON u.id = i.user_id
                 WHERE i.id = ? AND\s""" + SHOWN, rs -> true, imageId).isPresent();
    }

    /** The name of a user whose images the gallery shows; empty for unknown users and those who opted out. */
    public Optional<String> publicUserName(long userId) {
        return jdbc.one("SELECT name FROM users WHERE id = ? AND gallery_public", rs -> rs.getString(1), userId);
    }

    /** The models that have at least one image in the gallery, by name. */
    public List<String> models() {
        return jdbc.list("""
                SELECT DISTINCT i.model FROM images i JOIN users u ON u.id = i.user_id
                 WHERE\s""" + SHOWN + " ORDER BY 1", rs -> rs.getString(1));
    }

    /**
     * Hides an image from the gallery (and every page and API answer, from the next request on). Only
     * its author, or an admin, may; anyone else gets {@link HideResult#FORBIDDEN} and nothing changes.
     */
    public HideResult hide(long imageId, long byUserId, boolean isAdmin) {
        return jdbc.tx(c -> {
            Boolean[] row = Jdbc.one(c, "SELECT user_id, visible FROM images WHERE id = ? FOR UPDATE",
                    rs -> new Boolean[] {rs.getLong(1) == byUserId, rs.getBoolean(2)}, imageId);
            if (row == null) {
                return HideResult.NOT_FOUND;
            }
            if (!row[0] && !isAdmin) {
                return HideResult.FORBIDDEN;
            }
            if (!row[1]) {
                return HideResult.ALREADY_HIDDEN;
            }
            Jdbc.update(c, """
                    UPDATE images SET visible = FALSE, hidden_at = now(),
                                      hidden_by = (SELECT id FROM users WHERE id = ?)
                     WHERE id = ?""", byUserId, imageId);
            return HideResult.HIDDEN;
        });
    }

    /**
     * Whether the gallery may show this user's images (default true). Returns false, changing nothing,
     * for a user the bot has never seen (they have no images); see {@link #setGalleryPublic(long, String, boolean)}.
     */
    public boolean setGalleryPublic(long userId, boolean galleryPublic) {
        return jdbc.update("UPDATE users SET gallery_public = ?, updated_at = now() WHERE id = ?", galleryPublic,
                userId) == 1;
    }

    /** As {@link #setGalleryPublic(long, boolean)}, recording the user first when the bot has not seen them yet. */
    public void setGalleryPublic(long userId, String userName, boolean galleryPublic) {
        jdbc.update("""
                INSERT INTO users (id, name, gallery_public) VALUES (?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET gallery_public = EXCLUDED.gallery_public, updated_at = now()""",
                userId, userName, galleryPublic);
    }

    private Optional<byte[]> bytes(long imageId, String column) {
        // column is one of two constants above, never input
        String sql = "SELECT i." + column + " FROM images i JOIN users u ON u.id = i.user_id"
                + " WHERE i.id = ? AND " + SHOWN;
        return jdbc.one(sql, rs -> rs.getBytes(1), imageId);
    }

    /** A gallery item, from {@link #ITEM_COLUMNS}. */
    private static final Jdbc.RowMapper<GalleryItem> ITEM = rs -> new GalleryItem(rs.getLong(1),
            rs.getTimestamp(2).toInstant(), rs.getLong(3), rs.getString(4), rs.getString(5), rs.getString(6),
            rs.getString(7), rs.getInt(8), rs.getInt(9), rs.getLong(10));
}
