"""A custom trainer: a soft-voting ensemble no built-in estimator offers, under the
TrainingJob container contract (docs/experiments.md). The SDK reads what the operator hands
over (the Dataset version, features, target, hyperparameters and split) and writes what it
collects (the model as ONNX with its signature, the metrics)."""

from sklearn.ensemble import RandomForestClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from mlops_operator.training import sdk

params = sdk.hyperparameters()  # spec.hyperparameters, a search trial's on top
split = sdk.split()

x, y = sdk.load_dataset()
x_train, x_test, y_train, y_test = train_test_split(
    x, y, test_size=split.get("testSize", 0.2), random_state=split.get("seed", 42), stratify=y
)
model = VotingClassifier(
    [
        ("lr", LogisticRegression(C=float(params.get("C", 1.0)), max_iter=1000)),
        (
            "rf",
            RandomForestClassifier(
                n_estimators=int(params.get("n_estimators", 50)), max_depth=4, random_state=0
            ),
        ),
    ],
    voting="soft",
    flatten_transform=False,  # what the ONNX converter supports
).fit(x_train, y_train)
predicted = model.predict(x_test)
sdk.log_metrics(
    {
        "accuracy": accuracy_score(y_test, predicted),
        "f1": f1_score(y_test, predicted, average="macro"),
    }
)
sdk.save_model(model.fit(x, y), x)  # refit on every row; ONNX when it converts faithfully
