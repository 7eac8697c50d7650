#!/bin/sh
# CloudCrowd's three example jobs (its examples/word_count_example.rb, graphics_magick_example.rb
# and process_pdfs_example.rb), with local inputs this script makes, against a running api
# (`crowd up` by default; CROWD_API elsewhere). Needs gm and gs (graphicsmagick, ghostscript).
#
#   examples/cloudcrowd_examples.sh [crowd binary]
set -eu
crowd=${1:-crowd}
dir=$(mktemp -d "${TMPDIR:-/tmp}/cloudcrowd-examples.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# Word count: plays, here three short texts.
printf 'To be, or not to be, that is the question\n' > "$dir/hamlet.txt"
printf 'Now is the winter of our discontent\n' > "$dir/richard_iii.txt"
printf 'If music be the food of love, play on\n' > "$dir/twelfth_night.txt"
echo "word_count:"
"$crowd" submit word_count "$dir/hamlet.txt" "$dir/richard_iii.txt" "$dir/twelfth_night.txt" --wait

# GraphicsMagick: annotated, blurred, and black and white versions of each image, the steps
# exactly as CloudCrowd's example writes them.
for colour in orange teal; do
  gm convert -size 320x200 "gradient:$colour-white" "$dir/$colour.jpg"
done
cat > "$dir/graphics_magick.json" <<JOB
{"action": "graphics_magick",
 "inputs": ["file://$dir/orange.jpg", "file://$dir/teal.jpg"],
 "options": {"steps": [
   {"name": "annotated", "command": "convert",
    "options": "-font helvetica -fill red -draw \"font-size 35; text 75,75 CloudCrowd!\"", "extension": "jpg"},
   {"name": "blurred", "command": "convert", "options": "-blur 10x5", "extension": "png"},
   {"name": "bw", "input": "blurred", "command": "convert", "options": "-monochrome", "extension": "jpg"}]}}
JOB
echo "graphics_magick:"
"$crowd" submit --file "$dir/graphics_magick.json" --wait

# Process PDFs: the text and 700- and 1000-pixel GIFs of every page, in batches of 7 pages.
{
  echo '%!PS'
  echo '/Helvetica findfont 24 scalefont setfont'
  for page in 1 2 3 4 5 6 7 8 9; do
    echo "72 700 moveto (Futurist manifesto, page $page) show showpage"
  done
} > "$dir/manifesto.ps"
gs -q -sDEVICE=pdfwrite -o "$dir/manifesto.pdf" "$dir/manifesto.ps"
cat > "$dir/process_pdfs.json" <<JOB
{"action": "process_pdfs",
 "inputs": ["file://$dir/manifesto.pdf"],
 "options": {"batch_size": 7, "images": [
   {"name": "700", "options": "-resize 700x -density 220 -depth 4 -unsharp 0.5x0.5+0.5+0.03", "extension": "gif"},
   {"name": "1000", "options": "-resize 1000x -density 220 -depth 4 -unsharp 0.5x0.5+0.5+0.03", "extension": "gif"}]}}
JOB
echo "process_pdfs:"
"$crowd" submit --file "$dir/process_pdfs.json" --wait
