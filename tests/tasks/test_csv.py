"""bomerge.tasks.csv: ``task.name: csv``, a user's own CSV/TSV files, as a specification.

Files with a header row (comma-separated, tab-separated by the ``.tsv`` suffix), one or two
text columns, class names mapped to head indices in ``task.data.labels`` order or float labels
for ``labels: regression``; one-line errors naming the file (and line) for bad files, and the
key for bad configs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from bomerge.config import StudyConfig, TinyModelConfig, parse_config
from bomerge.errors import BomergeError
from bomerge.evaluate import Evaluator
from bomerge.models import train_wordpiece
from bomerge.search.config_names import check_names
from bomerge.tasks import get_task
from bomerge.tasks.base import ALL_STATISTICS, Example
from bomerge.tasks.csv import CsvTask


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def study(tmp_path: Path, data: dict[str, Any], task: str = "csv", **extra: Any) -> StudyConfig:
    """A config whose structure and names are checked, as ``bomerge study run`` does."""
    raw = {"name": "mine", "task": {"name": task, "max_length": 32, "data": data}, **extra}
    return check_names(parse_config(raw, "study.yaml", tmp_path), "study.yaml")


def classification_data(**overrides: Any) -> dict[str, Any]:
    return {"train": "train.csv", "dev": "dev.csv", "text_columns": ["text"],
            "label_column": "label", "labels": ["negative", "positive"], "metric": "accuracy",
            **overrides}


SENTIMENT = [
    "text,label",
    "a great and lovely film,positive",
    "dull and boring,negative",
    '"bad, awful, weak",negative',  # a quoted cell holding commas
    "superb cast,positive",
]


@pytest.fixture()
def sentiment(tmp_path: Path) -> Path:
    write(tmp_path / "train.csv", SENTIMENT)
    write(tmp_path / "dev.csv", SENTIMENT[:1] + SENTIMENT[3:] + SENTIMENT[1:3])
    return tmp_path


# ---- reading files ---------------------------------------------------------------------

def test_a_comma_file_with_one_text_column_maps_class_names_to_head_indices(sentiment):
    config = study(sentiment, classification_data())
    task = get_task(config.task)
    assert isinstance(task, CsvTask) and task.name == "csv"
    assert task.num_labels == 2 and not task.is_regression and not task.is_pair
    assert task.metric == "accuracy" and task.heads == ("csv",)
    assert task.statistics == ALL_STATISTICS and task.training_modes == ("shuffled",)
    train = task.load_split(config.task.data, "train")
    assert train == [
        Example("a great and lovely film", None, 1.0),
        Example("dull and boring", None, 0.0),
        Example("bad, awful, weak", None, 0.0),
        Example("superb cast", None, 1.0),
    ]
    assert [ex.label for ex in task.load_split(config.task.data, "dev")] == [0.0, 1.0, 1.0, 0.0]


def test_relative_file_paths_are_read_against_the_config_folder(sentiment):
    config = study(sentiment, classification_data())
    assert config.task.data.train == sentiment / "train.csv"
    assert config.task.data.dev == sentiment / "dev.csv"


def test_the_labels_order_not_the_file_sets_the_head_index(sentiment):
    task = get_task(study(sentiment, classification_data(labels=["positive", "negative"])).task)
    assert [ex.label for ex in task.read_file(sentiment / "train.csv")] == [0.0, 1.0, 1.0, 0.0]


def test_a_tab_file_with_two_text_columns_is_a_sentence_pair_task(tmp_path):
    lines = ["id\tquestion\tanswer\tverdict",
             '1\twhat is "it"?\tit is, a thing\tyes',
             "2\twho\tnobody\tno",
             "3\twhere\there\tmaybe"]
    write(tmp_path / "train.tsv", lines)
    write(tmp_path / "dev.tsv", lines)
    config = study(tmp_path, {"train": "train.tsv", "dev": "dev.tsv",
                              "text_columns": ["question", "answer"], "label_column": "verdict",
                              "labels": ["no", "maybe", "yes"], "metric": "mcc"})
    task = get_task(config.task)
    assert task.is_pair and task.num_labels == 3 and task.metric == "matthews"
    rows = task.load_split(config.task.data, "train")
    assert rows == [Example('what is "it"?', "it is, a thing", 2.0), Example("who", "nobody", 0.0),
                    Example("where", "here", 1.0)]


def test_numeric_class_names_match_the_cells_as_written(tmp_path):
    write(tmp_path / "train.csv", ["sentence,label", "fine,1", "poor,0"])
    write(tmp_path / "dev.csv", ["sentence,label", "fine,1"])
    config = study(tmp_path, classification_data(text_columns=["sentence"], labels=[0, 1],
                                                 metric="f1"))
    task = get_task(config.task)
    assert task.metric == "f1"
    assert [ex.label for ex in task.load_split(config.task.data, "train")] == [1.0, 0.0]


def test_regression_labels_are_floats(tmp_path):
    lines = ["sentence1,sentence2,score", "a cat,a cat,5", "a cat,a dog, 2.25 ", "a cat,rain,0"]
    write(tmp_path / "train.csv", lines)
    write(tmp_path / "dev.csv", lines)
    config = study(tmp_path, {"train": "train.csv", "dev": "dev.csv",
                              "text_columns": ["sentence1", "sentence2"], "label_column": "score",
                              "labels": "regression", "metric": "spearman"})
    task = get_task(config.task)
    assert task.is_regression and task.num_labels == 1 and task.metric == "spearman"
    assert [ex.label for ex in task.load_split(config.task.data, "dev")] == [5.0, 2.25, 0.0]


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path):
    write(tmp_path / "train.csv", SENTIMENT, encoding="utf-8-sig")
    write(tmp_path / "dev.csv", SENTIMENT, encoding="utf-8-sig")
    task = get_task(study(tmp_path, classification_data()).task)
    assert len(task.read_file(tmp_path / "train.csv")) == 4


# ---- bad files -------------------------------------------------------------------------

def test_a_missing_column_names_the_file_and_lists_the_header(sentiment):
    task = get_task(study(sentiment, classification_data(label_column="sentiment")).task)
    path = sentiment / "train.csv"
    with pytest.raises(BomergeError) as raised:
        task.read_file(path)
    assert str(raised.value) == f"{path}: missing column 'sentiment' (header has: text, label)"


def test_an_unknown_label_names_the_file_and_line(sentiment):
    lines = SENTIMENT[:3] + ["so so,x"] + SENTIMENT[3:]
    write(sentiment / "train.csv", lines)
    config = study(sentiment, classification_data())
    with pytest.raises(BomergeError) as raised:
        get_task(config.task).load_split(config.task.data, "train")
    message = str(raised.value)
    assert message.startswith(f"{sentiment / 'train.csv'}, line 4: "
                              "label 'x' is not one of the labels")
    assert "negative" in message and "\n" not in message


def test_a_non_numeric_regression_label_names_the_file_and_line(tmp_path):
    write(tmp_path / "train.csv", ["text,score", "a,1.5", "b,2", "c,high"])
    write(tmp_path / "dev.csv", ["text,score", "a,1.5"])
    config = study(tmp_path, {"train": "train.csv", "dev": "dev.csv", "text_columns": ["text"],
                              "label_column": "score", "labels": "regression", "metric": "pearson"})
    with pytest.raises(BomergeError, match=r"train\.csv, line 4: label 'high' is not a number"):
        get_task(config.task).load_split(config.task.data, "train")


def test_an_empty_split_is_refused(sentiment):
    write(sentiment / "dev.csv", ["text,label"])
    config = study(sentiment, classification_data())
    task = get_task(config.task)
    with pytest.raises(BomergeError) as raised:
        task.load_split(config.task.data, "dev")
    assert str(raised.value) == f"{sentiment / 'dev.csv'}: the dev split has no rows"
    assert len(task.load_split(config.task.data, "train")) == 4


def test_a_missing_file_and_an_unknown_split_are_named(sentiment):
    config = study(sentiment, classification_data(dev="elsewhere/dev.csv"))
    task = get_task(config.task)
    with pytest.raises(BomergeError,
                       match=r"task 'csv': data file not found: .*elsewhere/dev\.csv"):
        task.load_split(config.task.data, "dev")
    with pytest.raises(BomergeError,
                       match=r"task 'csv': unknown split 'test' \(use train or dev\)"):
        task.load_split(config.task.data, "test")


# ---- bad configs -----------------------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"train": None}, r"study\.yaml: task 'csv' needs task\.data\.train \(it reads train, dev, "),
    ({"label_column": None}, r"study\.yaml: task 'csv' needs task\.data\.label_column"),
    ({"metric": None}, r"study\.yaml: task 'csv' needs task\.data\.metric"),
    ({"metric": "auc"}, r"study\.yaml: task\.data\.metric: unknown metric 'auc' "
                        r"\(use accuracy, f1, mcc, matthews, pearson, spearman\)"),
    ({"metric": "pearson"}, r"study\.yaml: task\.data\.metric 'pearson' does not score "
                            r"classification labels"),
    ({"labels": "regression"}, r"study\.yaml: task\.data\.metric 'accuracy' does not score "
                               r"regression labels"),
    ({"labels": ["a", "b", "c"], "metric": "f1"}, r"study\.yaml: task\.data\.metric 'f1' needs two "
                                                  r"classes"),
    ({"labels": ["positive"]}, r"study\.yaml: task\.data\.labels: give at least two class names"),
    ({"labels": ["a", "b", "a"]}, r"study\.yaml: task\.data\.labels: class names repeat"),
])
def test_config_mistakes_name_the_key(sentiment, change, message):
    data = {k: v for k, v in classification_data(**change).items() if v is not None}
    with pytest.raises(BomergeError, match=message):
        study(sentiment, data)


def test_more_than_two_text_columns_are_refused_by_the_structure(sentiment):
    with pytest.raises(BomergeError, match=r"study\.yaml: key 'task\.data\.text_columns'"):
        study(sentiment, classification_data(text_columns=["a", "b", "c"]))


def test_a_glue_key_is_refused_for_csv_and_a_csv_key_for_a_glue_task(sentiment):
    with pytest.raises(BomergeError,
                       match=r"^study\.yaml: task\.data\.root is not read by task 'csv'"):
        study(sentiment, classification_data(root="data"))
    with pytest.raises(BomergeError, match=r"^study\.yaml: task\.data\.train is not read by task "
                                           r"'sst2' \(it reads root, hub\)"):
        study(sentiment, {"root": "glue", "train": "train.csv"}, task="sst2")
    assert study(sentiment, {"root": "glue", "hub": False}, task="sst2").task.data.hub is False


def test_several_head_settings_are_refused_for_csv(sentiment):
    with pytest.raises(BomergeError, match=r"train\.mode 'pcgrad' is not a training mode of task "
                                           r"'csv' \(its modes: shuffled\)"):
        study(sentiment, classification_data(), train={"model": "tiny", "mode": "pcgrad"})
    with pytest.raises(BomergeError, match=r"search\.objectives 'per_task' needs a task with one "
                                           r"metric per head \(task 'csv' has one head\)"):
        study(sentiment, classification_data(), search={"objectives": "per_task"})


# ---- a model on csv rows ---------------------------------------------------------------

@pytest.mark.parametrize("metric", ["accuracy", "f1", "mcc"])
def test_a_tiny_model_evaluates_on_csv_rows(sentiment, metric):
    config = study(sentiment, classification_data(metric=metric))
    task = get_task(config.task)
    rows = task.load_split(config.task.data, "dev")
    tokenizer = train_wordpiece([ex.text_a for ex in rows], 200)
    model = task.new_tiny_model(tokenizer, TinyModelConfig(hidden_size=16), 0, None).eval()
    assert model.config.num_labels == 2
    evaluator = Evaluator(model, task.batches(rows, tokenizer, 32, 3, "cpu"), task)
    result = evaluator.evaluate(dict(model.named_parameters()))
    assert math.isfinite(result.loss) and result.n == len(rows)
    low = -1.0 if metric == "mcc" else 0.0
    assert low <= result.metric <= 1.0
    if metric == "accuracy":
        with torch.no_grad():
            enc = tokenizer([ex.text_a for ex in rows], padding=True, return_tensors="pt")
            predicted = model(**enc).logits.argmax(-1)
        labels = torch.tensor([int(ex.label) for ex in rows])
        assert result.metric == pytest.approx(float((predicted == labels).float().mean()))


def test_a_tiny_regression_model_evaluates_on_csv_rows(tmp_path):
    lines = ["a,b,score", "a cat,a cat,5", "a cat,a dog,2.5", "a cat,rain,0", "sun,rain,1"]
    write(tmp_path / "train.csv", lines)
    write(tmp_path / "dev.csv", lines)
    config = study(tmp_path, {"train": "train.csv", "dev": "dev.csv", "text_columns": ["a", "b"],
                              "label_column": "score", "labels": "regression", "metric": "pearson"})
    task = get_task(config.task)
    rows = task.load_split(config.task.data, "dev")
    tokenizer = train_wordpiece([t for ex in rows for t in (ex.text_a, ex.text_b)], 200)
    model = task.new_tiny_model(tokenizer, TinyModelConfig(hidden_size=16), 0, None)
    assert model.config.num_labels == 1
    result = Evaluator(model, task.batches(rows, tokenizer, 32, 2, "cpu"), task).evaluate(
        dict(model.named_parameters()))
    assert math.isfinite(result.loss) and -1.0 <= result.metric <= 1.0


def test_check_head_wants_as_many_outputs_as_labels(sentiment, tmp_path):
    two = get_task(study(sentiment, classification_data()).task)
    three = get_task(study(sentiment,
                           classification_data(labels=["a", "b", "c"], metric="mcc")).task)
    model = two.new_tiny_model(train_wordpiece(["a b c"], 60), TinyModelConfig(hidden_size=16),
                               0, None)
    model.save_pretrained(tmp_path / "model")
    two.check_head(tmp_path / "model")
    with pytest.raises(BomergeError, match=r"the head has 2 outputs, task 'csv' needs 3"):
        three.check_head(tmp_path / "model")
