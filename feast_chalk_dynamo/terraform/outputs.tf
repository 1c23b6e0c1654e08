output "table_name" {
  value = aws_dynamodb_table.online_store.name
}

output "table_arns" {
  description = "The table in var.region, then each replica."
  value       = local.table_arns
}

output "stream_arn" {
  description = "The stream Global Tables replicate through; null for a single-region table."
  value       = local.global_table ? aws_dynamodb_table.online_store.stream_arn : null
}

output "store_policy_arn" {
  description = "Attach to every role running Feast with this store."
  value       = aws_iam_policy.store.arn
}

output "table_management_policy_arn" {
  value = one(aws_iam_policy.table_management[*].arn)
}

output "migration_policy_arn" {
  description = "Attach, beside the store policy, to the role running feast-chalk-dynamo migrate."
  value       = one(aws_iam_policy.migration[*].arn)
}

output "online_store_yaml" {
  description = "The online_store section of feature_store.yaml for this table."
  value       = <<-EOT
    online_store:
      type: feast_chalk_dynamo.ChalkDynamoOnlineStore
      table_name: ${aws_dynamodb_table.online_store.name}
      region: ${var.region}
  EOT
}
