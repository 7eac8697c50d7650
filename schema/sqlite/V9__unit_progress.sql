-- How far each unit a node runs has got, in percent, as its action reports it: {"<unit id>": 40}.
ALTER TABLE nodes ADD COLUMN progress TEXT NOT NULL DEFAULT '{}';
