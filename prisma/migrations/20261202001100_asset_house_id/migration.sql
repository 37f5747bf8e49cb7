-- The traffic system's identifier of an asset (BXF's HouseNumber), by which a
-- schedule imported from traffic names its clips: optional, unique per project.
ALTER TABLE "assets" ADD COLUMN "house_id" TEXT;

CREATE UNIQUE INDEX "assets_project_id_house_id_key" ON "assets"("project_id", "house_id");
