import { workerData } from "node:worker_threads";
import { serveTiles, type TileSetup } from "./tile-thread.ts";

/** The tiling thread when no spare decoding thread takes the run's tiles (`tileThread` in tile-thread.ts). */

serveTiles(workerData as TileSetup);
