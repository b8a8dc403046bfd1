-- Every example of the data set: split ('train'/'test'), example_id (0-based within split), label.
SELECT split, example_id, label, target FROM stg_examples
