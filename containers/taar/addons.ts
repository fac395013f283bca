/** The `active_addons` entries of clients_daily / clients_last_seen, and the validity test the jobs share. */
export interface ActiveAddon {
  addon_id: string | null;
  blocklisted?: boolean | null;
  name?: string | null;
  user_disabled?: boolean | null;
  app_disabled?: boolean | null;
  version?: string | null;
  scope?: number | null;
  type?: string | null;
  foreign_install?: boolean | null;
  has_binary_components?: boolean | null;
  install_day?: number | null;
  update_day?: number | null;
  signed_state?: number | null;
  is_system?: boolean | null;
  is_web_extension?: boolean | null;
  multiprocess_compatible?: boolean | null;
}

/** similarity and lite: NOT (is_system or app_disabled or type != extension or user_disabled or foreign_install), in the whitelist. */
export function validGuids(addons: ActiveAddon[] | null | undefined, whitelist: Set<string>): string[] {
  const out: string[] = [];
  for (const a of addons ?? []) {
    if (
      !a.addon_id ||
      a.is_system ||
      a.app_disabled ||
      a.type !== "extension" ||
      a.user_disabled ||
      a.foreign_install
    )
      continue;
    if (!whitelist.has(a.addon_id)) continue;
    out.push(a.addon_id);
  }
  return out;
}
