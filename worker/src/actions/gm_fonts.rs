//! `-font helvetica` on Debian: GraphicsMagick's own font map still names the gsfonts files,
//! which Debian replaced by the URW base35 fonts under other names (`fonts-urw-base35`), so
//! every one of the 35 standard PostScript fonts fails to load. `worker/assets/type.mgk` maps
//! them to the new files; each `gm` run finds it first on its `MAGICK_CONFIGURE_PATH`, so
//! CloudCrowd's example jobs work as they are written.

use std::path::Path;

use tokio::process::Command;

use crate::ActionError;

const TYPE_MAP: &str = include_str!("../../assets/type.mgk");

/// Points `command` (a `gm` run in `work_dir`) at the type map, written into `work_dir`.
pub async fn use_type_map(command: &mut Command, work_dir: &Path) -> Result<(), ActionError> {
    let dir = work_dir.join(".graphicsmagick");
    tokio::fs::create_dir_all(&dir).await?;
    let map = dir.join("type.mgk");
    if !tokio::fs::try_exists(&map).await? {
        tokio::fs::write(&map, TYPE_MAP).await?;
    }
    command.env("MAGICK_CONFIGURE_PATH", &dir);
    Ok(())
}
