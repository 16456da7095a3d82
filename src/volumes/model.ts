// What berth records about a volume, and the mount points a container holds (docker's MountPoint).

/** docker labels an anonymous volume with this; `volume prune` without all=true only takes those. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** docker's names for local volumes (moby names.RestrictedNameChars). */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export interface VolumeRecord {
  name: string;
  driver: 'local';
  /** As the client sent them; null when it sent none (docker shows null then). */
  labels: Record<string, string> | null;
  /** The local driver's type/device/o; null when none. */
  options: Record<string, string> | null;
  /** RFC 3339 without fractions, as docker shows CreatedAt. */
  createdAt: string;
}

/** One mount of a container, as `docker inspect` lists it under Mounts, plus what start needs. */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** Volume name (volumes only). */
  Name?: string;
  /** Host path: the bind source or the volume's _data; '' for tmpfs. */
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Copy the image's content at the destination into the volume while it is empty (not `nocopy`). */
  copyImageData?: boolean;
  /** A volume made for this container alone (VOLUME, `-v /path`): `rm -v` removes it. */
  anonymous?: boolean;
  /** tmpfs mount options (size=..., mode=...). */
  tmpfsOptions?: string[];
  /** Shown by inspect for HostConfig.Tmpfs? docker does not list --tmpfs mounts under Mounts. */
  hidden?: boolean;
}
