# Least-privilege policies: exactly the DynamoDB actions feast_chalk_dynamo
# calls, on exactly its table. tests/unit/test_terraform.py reads the calls off
# the package's source and fails when these lists and the code disagree, both
# ways. Attach the policies to the roles of whatever runs Feast with this store
# (feast apply, materialization, feast serve, the migration).

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  # The table in its own region and in each replica region: a deployment in a
  # replica region points the store at its local replica.
  table_arns = concat(
    [aws_dynamodb_table.online_store.arn],
    [for replica in aws_dynamodb_table.online_store.replica : replica.arn],
  )
  migration_region = coalesce(var.migration_region, var.region)
}

# Everything the store does on a table that exists: feast apply (checking the
# keys, the name mapping, expiry recomputation), materialization and pushes,
# reads, Bloom filter snapshots and their log, and feast teardown's removal
# of a project's items. TransactWriteItems needs no action of its own: each
# of its Update elements is authorized as UpdateItem.
data "aws_iam_policy_document" "store" {
  statement {
    sid    = "FeastChalkDynamoData"
    effect = "Allow"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:UpdateItem",
    ]
    resources = local.table_arns
  }
}

resource "aws_iam_policy" "store" {
  name        = "${var.table_name}-store"
  description = "feast_chalk_dynamo: read and write the online store table ${var.table_name}"
  policy      = data.aws_iam_policy_document.store.json
  tags        = var.tags
}

# Only what create_tables_if_not_exists: true (creating the table, turning TTL
# on) and feast teardown (deleting a table the store itself created) call.
# The table above is made by Terraform, so the store never calls these on it:
# this policy is for an environment that lets the store manage its own table.
data "aws_iam_policy_document" "table_management" {
  statement {
    sid    = "FeastChalkDynamoTableManagement"
    effect = "Allow"
    actions = [
      "dynamodb:CreateTable",
      "dynamodb:DeleteTable",
      "dynamodb:UpdateTimeToLive",
    ]
    resources = local.table_arns
  }
}

resource "aws_iam_policy" "table_management" {
  count       = var.table_management_policy ? 1 : 0
  name        = "${var.table_name}-table-management"
  description = "feast_chalk_dynamo: create, TTL and delete the table ${var.table_name} itself"
  policy      = data.aws_iam_policy_document.table_management.json
  tags        = var.tags
}

# feast-chalk-dynamo migrate reads Feast's own DynamoDB tables (<project>.<view>):
# their size, a Scan of each, and with --verify Feast's store reading them back.
# It writes only through the store, so the store policy covers the other side.
data "aws_iam_policy_document" "migration" {
  count = var.migration_table_prefix == null ? 0 : 1

  statement {
    sid    = "FeastDynamoDBTablesRead"
    effect = "Allow"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:DescribeTable",
      "dynamodb:Scan",
    ]
    resources = [
      "arn:${data.aws_partition.current.partition}:dynamodb:${local.migration_region}:${data.aws_caller_identity.current.account_id}:table/${var.migration_table_prefix}*",
    ]
  }
}

resource "aws_iam_policy" "migration" {
  count       = var.migration_table_prefix == null ? 0 : 1
  name        = "${var.table_name}-migration"
  description = "feast-chalk-dynamo migrate: read Feast's DynamoDB tables ${var.migration_table_prefix}*"
  policy      = data.aws_iam_policy_document.migration[0].json
  tags        = var.tags
}
