// The crash-safe metadata store: images, tags, containers, networks and volumes in one SQLite database in WAL mode.
// WAL with synchronous=NORMAL keeps every committed transaction across a kill -9 of berthd (the
// WAL is in the page cache, which the kernel keeps); only a power loss may drop the newest commits.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ImageRecord {
  /** Config digest: docker's image ID. */
  id: string;
  repoDigests: string[];
  manifestDigest: string;
  manifestMediaType: string;
  /** Chain IDs of the layers, bottom first. */
  chainIds: string[];
  diffIds: string[];
  /** Sum of the unpacked layer sizes. */
  size: number;
  /** RFC 3339 from the image config. */
  created: string;
  /** When berth stored it (ms since epoch). */
  addedAt: number;
  /** The image a commit was made from (docker's Parent), when berth made it. */
  parent?: string;
}

type Row = { json: string };

export class MetadataStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, json TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS tags (name TEXT PRIMARY KEY, image_id TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS tags_by_image ON tags(image_id);
      CREATE TABLE IF NOT EXISTS containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, json TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS networks (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, json TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS volumes (name TEXT PRIMARY KEY, json TEXT NOT NULL);
    `);
  }

  close(): void {
    this.db.close();
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // --- images ---------------------------------------------------------------------------------

  putImage(record: ImageRecord): void {
    this.db.prepare('INSERT OR REPLACE INTO images (id, json) VALUES (?, ?)').run(record.id, JSON.stringify(record));
  }

  getImage(id: string): ImageRecord | undefined {
    const row = this.db.prepare('SELECT json FROM images WHERE id = ?').get(id) as Row | undefined;
    return row ? (JSON.parse(row.json) as ImageRecord) : undefined;
  }

  listImages(): ImageRecord[] {
    return (this.db.prepare('SELECT json FROM images').all() as Row[]).map((r) => JSON.parse(r.json) as ImageRecord);
  }

  /** IDs starting with the given hex prefix (after "sha256:"). */
  findImagesByPrefix(hexPrefix: string): string[] {
    const rows = this.db.prepare("SELECT id FROM images WHERE id LIKE ? ESCAPE '\\'").all(`sha256:${hexPrefix}%`) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  deleteImage(id: string): void {
    this.db.prepare('DELETE FROM images WHERE id = ?').run(id);
  }

  // --- tags -----------------------------------------------------------------------------------

  setTag(name: string, imageId: string): void {
    this.db.prepare('INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)').run(name, imageId);
  }

  getTag(name: string): string | undefined {
    const row = this.db.prepare('SELECT image_id FROM tags WHERE name = ?').get(name) as { image_id: string } | undefined;
    return row?.image_id;
  }

  tagsOf(imageId: string): string[] {
    return (this.db.prepare('SELECT name FROM tags WHERE image_id = ? ORDER BY name').all(imageId) as Array<{ name: string }>).map((r) => r.name);
  }

  deleteTag(name: string): void {
    this.db.prepare('DELETE FROM tags WHERE name = ?').run(name);
  }

  // --- containers -----------------------------------------------------------------------------

  putContainer(id: string, name: string, record: unknown): void {
    this.db.prepare('INSERT OR REPLACE INTO containers (id, name, json) VALUES (?, ?, ?)').run(id, name, JSON.stringify(record));
  }

  /** Insert only: fails with SQLITE_CONSTRAINT_UNIQUE when the name is taken. */
  insertContainer(id: string, name: string, record: unknown): void {
    this.db.prepare('INSERT INTO containers (id, name, json) VALUES (?, ?, ?)').run(id, name, JSON.stringify(record));
  }

  getContainerJson<T>(id: string): T | undefined {
    const row = this.db.prepare('SELECT json FROM containers WHERE id = ?').get(id) as Row | undefined;
    return row ? (JSON.parse(row.json) as T) : undefined;
  }

  listContainers<T>(): T[] {
    return (this.db.prepare('SELECT json FROM containers').all() as Row[]).map((r) => JSON.parse(r.json) as T);
  }

  deleteContainer(id: string): void {
    this.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
  }

  // --- networks -------------------------------------------------------------------------------

  /** Insert only: fails with SQLITE_CONSTRAINT_UNIQUE when the name is taken. */
  insertNetwork(id: string, name: string, record: unknown): void {
    this.db.prepare('INSERT INTO networks (id, name, json) VALUES (?, ?, ?)').run(id, name, JSON.stringify(record));
  }

  listNetworks<T>(): T[] {
    return (this.db.prepare('SELECT json FROM networks').all() as Row[]).map((r) => JSON.parse(r.json) as T);
  }

  deleteNetwork(id: string): void {
    this.db.prepare('DELETE FROM networks WHERE id = ?').run(id);
  }

  // --- volumes --------------------------------------------------------------------------------

  /** Insert only: fails with SQLITE_CONSTRAINT_PRIMARYKEY when the name is taken. */
  insertVolume(name: string, record: unknown): void {
    this.db.prepare('INSERT INTO volumes (name, json) VALUES (?, ?)').run(name, JSON.stringify(record));
  }

  getVolumeJson<T>(name: string): T | undefined {
    const row = this.db.prepare('SELECT json FROM volumes WHERE name = ?').get(name) as Row | undefined;
    return row ? (JSON.parse(row.json) as T) : undefined;
  }

  listVolumes<T>(): T[] {
    return (this.db.prepare('SELECT json FROM volumes ORDER BY name').all() as Row[]).map((r) => JSON.parse(r.json) as T);
  }

  deleteVolume(name: string): void {
    this.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
  }
}
